import Foundation

/// Where tests find the package, the shared corpus and the built binary.
public enum TestPaths {
    /// The package root (this file is Sources/DeferWatchTestSupport/TestPaths.swift).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared` beside the repository (CI lays it there), or $DEFERWATCH_SHARED.
    public static var shared: URL? {
        if let env = ProcessInfo.processInfo.environment["DEFERWATCH_SHARED"] {
            return URL(fileURLWithPath: env)
        }
        let u = packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
        return FileManager.default.fileExists(atPath: u.path) ? u : nil
    }

    /// ../shared/corpus, when it exists.
    public static var corpus: URL? {
        guard let s = shared else { return nil }
        let c = s.appendingPathComponent("corpus")
        return FileManager.default.fileExists(atPath: c.path) ? c : nil
    }

    /// ../shared/bench/genlog.py, the generator of logs with scripted incidents.
    public static var genlog: URL? {
        guard let s = shared else { return nil }
        let g = s.appendingPathComponent("bench/genlog.py")
        return FileManager.default.fileExists(atPath: g.path) ? g : nil
    }

    /// The `deferwatch` executable built beside the test bundle.
    public static var binary: URL {
        let exe = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        var dir = exe.deletingLastPathComponent()
        // The test runner may live inside a bundle directory (.xctest); walk up to the build dir.
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("deferwatch")
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDir), !isDir.boolValue {
                return candidate
            }
            dir = dir.deletingLastPathComponent()
        }
        return packageRoot.appendingPathComponent(".build/debug/deferwatch")
    }

    /// A fresh temporary directory, `deferwatch-test-NAME-UUID`. It is removed when the test
    /// process exits, whatever the tests did (a failed expectation included); a test that
    /// is done with it early may remove it itself.
    public static func temporaryDirectory(_ name: String = "dir") -> URL {
        let u = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("deferwatch-test-\(name)-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        TemporaryDirectories.shared.add(u.path)
        return u
    }
}

/// The temporary directories of this test process, removed at its exit.
final class TemporaryDirectories: @unchecked Sendable {
    static let shared = TemporaryDirectories()
    private let lock = NSLock()
    private var paths: [String] = []

    private init() {
        atexit { TemporaryDirectories.shared.removeAll() }
    }

    func add(_ path: String) {
        lock.lock()
        paths.append(path)
        lock.unlock()
    }

    func removeAll() {
        lock.lock()
        let all = paths
        paths = []
        lock.unlock()
        for p in all { try? FileManager.default.removeItem(atPath: p) }
    }
}
