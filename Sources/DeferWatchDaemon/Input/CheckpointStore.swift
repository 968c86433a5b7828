#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Saves and loads small state files (checkpoints, open alerts) in the state directory,
/// atomically: write a temporary file, fsync it, rename it over the old one, fsync the
/// directory. A crash leaves the old file or the new one, never half of one.
public struct CheckpointStore: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public func save<T: Encodable>(_ value: T, as name: String) throws(InputError) {
        let data: Data
        do { data = try JSONEncoder().encode(value) } catch {
            throw InputError(path: name, operation: "cannot encode state", detail: "\(error)")
        }
        try write(data, as: name)
    }

    /// Replaces the file `name` with `data`, atomically.
    public func write(_ data: Data, as name: String) throws(InputError) {
        try write(as: name) { emit in data.withUnsafeBytes { emit($0) } }
    }

    /// Replaces the file `name` with what `produce` hands its `emit`, piece by piece,
    /// atomically; `produce` returns false when `emit` did (a write failed) or it gave up.
    public func write(as name: String, _ produce: (_ emit: (UnsafeRawBufferPointer) -> Bool) -> Bool) throws(InputError) {
        let final = "\(directory)/\(name)"
        let temp = "\(final).tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        if fd < 0 { throw InputError(path: temp, operation: "cannot write state", errno: errno) }
        var writeErrno: Int32 = 0
        var ok = produce { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    writeErrno = errno
                    return false
                }
                off += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        let syncErrno = errno
        close(fd)
        guard ok else {
            unlink(temp)
            throw InputError(path: temp, operation: "cannot write state", errno: writeErrno != 0 ? writeErrno : syncErrno)
        }
        if rename(temp, final) != 0 {
            let e = errno
            unlink(temp)
            throw InputError(path: final, operation: "cannot replace state", errno: e)
        }
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    /// The file `name` mapped into memory (not read into it: the deferred queue's file may be
    /// tens of MB), or nil when there is none.
    public func map(_ name: String) throws(InputError) -> Data? {
        let path = "\(directory)/\(name)"
        if access(path, F_OK) != 0 { return nil }
        do { return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw InputError(path: path, operation: "cannot read state", detail: "\(error)")
        }
    }

    /// Removes the files whose names start with `prefix`, but `keep`.
    public func remove(prefix: String, keeping keep: String?) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for n in names where n.hasPrefix(prefix) && n != keep { unlink("\(directory)/\(n)") }
    }

    /// The bytes of the file `name`, or nil when there is none yet; an error when it is
    /// there but cannot be read.
    public func read(_ name: String) throws(InputError) -> Data? {
        let path = "\(directory)/\(name)"
        guard let data = FileManager.default.contents(atPath: path) else {
            if access(path, F_OK) != 0 { return nil }
            throw InputError(path: path, operation: "cannot read state", errno: errno)
        }
        return data
    }

    /// The saved value, or nil when there is none yet. A damaged file is an error (it names
    /// the file) rather than a silent fresh start.
    public func load<T: Decodable>(_ type: T.Type, from name: String) throws(InputError) -> T? {
        let path = "\(directory)/\(name)"
        guard let data = try read(name) else { return nil }
        do { return try JSONDecoder().decode(T.self, from: data) } catch {
            throw InputError(path: path, operation: "damaged state file", detail: "\(error)")
        }
    }
}
