#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// Where `deferwatch run` keeps its saved state: a file in the state directory, or in the
/// in-process tests memory that outlives the runners (a restart is a new runner on the
/// same store).
public protocol StateStore: AnyObject {
    /// What the status and the messages call it (the state directory).
    var location: String { get }
    /// What the messages call the saved state itself (the state file's path).
    var savedName: String { get }
    /// The saved bytes; nil when nothing was saved. Throws when they cannot be read.
    func read() throws(InputError) -> Data?
    /// Replaces the saved bytes, atomically.
    func write(_ data: Data) throws(InputError)
    /// Makes the place anew when it is gone: true when it was gone and is there again.
    func remake() -> Bool
    /// Keeps refused bytes aside for a look (and removes them from where they were):
    /// where they went, or nil when they could not be kept.
    func setAside() -> String?
    /// A file beside the saved state (the deferred queue's): written piece by piece,
    /// atomically (CheckpointStore.write(as:_:)).
    func writeSide(_ name: String, _ produce: (_ emit: (UnsafeRawBufferPointer) -> Bool) -> Bool) throws(InputError)
    /// A side file's bytes (mapped where the store is files), nil when there is none.
    func readSide(_ name: String) throws(InputError) -> Data?
    /// Removes the side files but `keep`.
    func removeSides(keeping keep: String?)
}

/// The state in `checkpoints.json` of the state directory (CheckpointStore: write, fsync,
/// rename).
public final class FileStateStore: StateStore {
    let store: CheckpointStore
    static let file = "checkpoints.json"

    public init(directory: String) { store = CheckpointStore(directory: directory) }

    public var location: String { store.directory }
    var path: String { "\(store.directory)/\(Self.file)" }
    public var savedName: String { path }

    public func read() throws(InputError) -> Data? { try store.read(Self.file) }

    public func write(_ data: Data) throws(InputError) { try store.write(data, as: Self.file) }

    public func remake() -> Bool {
        guard access(store.directory, F_OK) != 0, errno == ENOENT else { return false }
        return makeDirectories(store.directory)
    }

    public func setAside() -> String? { rename(path, path + ".refused") == 0 ? path + ".refused" : nil }

    public func writeSide(_ name: String, _ produce: (_ emit: (UnsafeRawBufferPointer) -> Bool) -> Bool) throws(InputError) {
        try store.write(as: name, produce)
    }

    public func readSide(_ name: String) throws(InputError) -> Data? { try store.map(name) }

    public func removeSides(keeping keep: String?) { store.remove(prefix: SideFile.prefix, keeping: keep) }
}

/// The names of the side files: `queue.GENERATION.bin`.
enum SideFile {
    static let prefix = "queue."
    static func queue(_ generation: UInt64) -> String { "\(prefix)\(generation).bin" }
}

/// Saved state in memory, for the in-process tests.
public final class MemoryStateStore: StateStore, Sendable {
    private let saved = Mutex<Data?>(nil)
    private let refused = Mutex<Data?>(nil)
    public let location: String

    public init(location: String = "memory") { self.location = location }
    public var savedName: String { location }

    private let failure = Mutex<InputError?>(nil)
    private let sides = Mutex<[String: Data]>([:])

    public func read() throws(InputError) -> Data? { saved.withLock { $0 } }
    public func write(_ data: Data) throws(InputError) {
        if let e = failure.withLock({ $0 }) { throw e }
        saved.withLock { $0 = data }
    }

    /// Every write fails with `error` from now on (nil: writes work again), as a state
    /// directory that turned read-only or full.
    public func failWrites(with error: InputError?) { failure.withLock { $0 = error } }
    public func remake() -> Bool { false }

    public func writeSide(_ name: String, _ produce: (_ emit: (UnsafeRawBufferPointer) -> Bool) -> Bool) throws(InputError) {
        if let e = failure.withLock({ $0 }) { throw e }
        var d = Data()
        guard produce({ d.append(contentsOf: $0); return true }) else {
            throw InputError(path: name, operation: "cannot write state", detail: "the queue could not be written")
        }
        sides.withLock { $0[name] = d }
    }

    public func readSide(_ name: String) throws(InputError) -> Data? { sides.withLock { $0[name] } }

    public func removeSides(keeping keep: String?) {
        sides.withLock { s in for k in Array(s.keys) where k != keep { s[k] = nil } }
    }

    /// The side files saved (tests).
    public var sideNames: [String] { sides.withLock { Array($0.keys).sorted() } }
    /// Plants a side file (a damaged queue file).
    public func plantSide(_ name: String, _ data: Data) { sides.withLock { $0[name] = data } }
    public func setAside() -> String? {
        let d: Data? = saved.withLock { d in
            let was = d
            d = nil
            return was
        }
        refused.withLock { $0 = d }
        return "\(location) (refused)"
    }

    /// The bytes last saved (tests look at the checkpoint as a file test reads the file).
    public var data: Data? { saved.withLock { $0 } }
    /// Plants bytes as if a run had saved them (a hostile state file).
    public func plant(_ data: Data) { saved.withLock { $0 = data } }
    public var refusedData: Data? { refused.withLock { $0 } }
}
