// libjpeg API of libjpeg-turbo (Debian libjpeg62-turbo-dev), the library Pillow decodes JPEG with.
#include <stdio.h>
#include <jpeglib.h>
