// A thin Swift layer over the HDF5 C library: files, datasets and attributes that h5py reads.
import CHDF5

public enum H5 {
    /// The HDF5 library version this binary runs against, e.g. "1.10.8".
    public static var libraryVersion: String {
        var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
        H5get_libversion(&major, &minor, &release)
        return "\(major).\(minor).\(release)"
    }
}
