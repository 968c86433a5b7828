// swift-tools-version: 6.0
import PackageDescription

// A file sees only the members of the modules it imports itself. Without it, TOMLKit's
// `import struct Foundation.Data` made Foundation's String methods (`contains`, `range(of:)`)
// visible everywhere, and their use linked Foundation and ICU's data (about 40 MB) into the
// binary; the sources use the standard library and FoundationEssentials.
let onlyImportedMembers: [SwiftSetting] = [.enableUpcomingFeature("MemberImportVisibility")]

let package = Package(
    name: "deferwatch",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "deferwatch", targets: ["deferwatch"]),
        .library(name: "DeferWatchCore", targets: ["DeferWatchCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
    ],
    targets: [
        // zlib for reading rotated .gz logs.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // libdeflate: whole-file decompression of rotated .gz logs in `analyze`, about 2.7
        // times zlib's speed here (Benchmarks/inflate_compare.c); zlib streams the rest.
        .systemLibrary(
            name: "CDeflate",
            pkgConfig: "libdeflate",
            providers: [.apt(["libdeflate-dev"])]
        ),
        // libsystemd: the journal (sd-journal) and readiness/watchdog (sd-daemon).
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        // glibc's libresolv, for the DNS checks of the sending identity (a thin C layer).
        .target(
            name: "CResolv",
            linkerSettings: [.linkedLibrary("resolv")]
        ),
        // glibc's allocator settings for the daemon (mallopt, malloc_trim).
        .target(name: "CMemory"),
        // libspf2 (Debian's), for the SPF evaluation of the checks, its DNS through ours.
        .target(
            name: "CSPF",
            linkerSettings: [.linkedLibrary("spf2")]
        ),
        // The pure core: records in, events and reports out. No I/O, no clock.
        .target(
            name: "DeferWatchCore",
            dependencies: [.product(name: "TOMLKit", package: "TOMLKit")],
            resources: [.embedInCode("Resources/rules.toml"), .embedInCode("Resources/hints.toml"), .embedInCode("Resources/deferwatch.toml")],
            swiftSettings: onlyImportedMembers
        ),
        // I/O: file, gzip and journal readers, checkpoints, sinks, the status server.
        .target(
            name: "DeferWatchDaemon",
            dependencies: [
                "DeferWatchCore", "CZlib", "CDeflate", "CSystemd", "CResolv", "CSPF", "CMemory",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: onlyImportedMembers
        ),
        .executableTarget(
            name: "deferwatch",
            dependencies: [
                "DeferWatchCore",
                "DeferWatchDaemon",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // The sample log of the quick start, for `run --demo`.
            resources: [.embedInCode("Resources/sample-mail.log")],
            swiftSettings: onlyImportedMembers
        ),
        .target(
            name: "DeferWatchTestSupport",
            dependencies: ["DeferWatchCore"]
        ),
        .testTarget(
            name: "DeferWatchCoreTests",
            dependencies: ["DeferWatchCore", "DeferWatchTestSupport"],
            exclude: ["Fixtures", "Golden"]
        ),
        .testTarget(
            name: "DeferWatchDaemonTests",
            dependencies: ["DeferWatchDaemon", "DeferWatchCore", "DeferWatchTestSupport"],
            exclude: ["Fixtures"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
