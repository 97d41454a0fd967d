// Library types the command line parses directly.
import ArgumentParser
import Extract

extension Architecture: ExpressibleByArgument {}
