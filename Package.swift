// swift-tools-version:6.0
// Transfer learning by CNN codes: a frozen ConvNet's codes (Extract), linear classifiers on them
// (Classify), and the `pipeline` command that drives both (Pipeline).
import PackageDescription

// Kernels are bounds-checked in debug builds and unchecked in release builds, where they are hot.
let fast: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))]

let package = Package(
    name: "pipeline",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pipeline", targets: ["Pipeline"]),
        .library(name: "Extract", targets: ["Extract"]),
        .library(name: "Classify", targets: ["Classify"]),
        .library(name: "Train", targets: ["Train"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
    ],
    targets: [
        // Thin system-library targets over Debian's -dev packages (see scripts/install-deps).
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CLinear", providers: [.apt(["liblinear-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),

        // Inner loops of Extract's fast ops in C: vectorised, compiled per ISA (target_clones).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),

        // HDF5 files that h5py reads: the code files Extract writes and Classify reads.
        .target(name: "H5", dependencies: ["CHDF5"], swiftSettings: fast),
        .target(name: "Extract", dependencies: ["CBLAS", "CJPEG", "CPNG", "H5", "CKernels"], swiftSettings: fast),
        // Fine-tuning: the layers' backward passes, BatchNorm in training mode, SGD.
        .target(name: "Train", dependencies: ["Extract", "CBLAS"], swiftSettings: fast),
        .target(name: "Classify", dependencies: ["CBLAS", "CLinear", "H5"], swiftSettings: fast),
        .executableTarget(
            name: "Pipeline",
            dependencies: [
                "Extract", "Classify", "H5", "Train",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),

        .testTarget(name: "H5Tests", dependencies: ["H5"], exclude: ["Scripts"]),
        .testTarget(name: "ExtractTests", dependencies: ["Extract", "H5"], exclude: ["Golden"]),
        .testTarget(name: "TrainTests", dependencies: ["Train", "Extract"], exclude: ["Golden"]),
        .testTarget(name: "ClassifyTests", dependencies: ["Classify", "H5"], exclude: ["Golden"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "H5"], exclude: ["Golden", "Scripts", "Snapshots"]),
    ],
    swiftLanguageModes: [.v5]
)
