#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore

/// Files rotated away: found when no poll saw them go, closed once quiet, remembered as read.
extension FileFollower {
    /// Files with a rotated name, modified since `floor`, that no one has read: the logs of
    /// rotations no poll saw. Read before the file at the path, oldest first.
    func adoptGapFiles(since floor: Int64, excluding exclude: FileIdentity?, now: Int64) {
        var reading = Set(rotated.map(\.identity))
        if let c = current { reading.insert(c.identity) }
        if let exclude { reading.insert(exclude) }
        for s in RotatedNames.siblings(of: path) where s.mtime >= floor &- Self.mtimeSlack && !reading.contains(s.identity) {
            guard let f = try? LogFile(opening: s.name, maxLineLength: maxLineLength, clock: now), !wasRead(f) else { continue }
            reading.insert(f.identity)
            rotated.append(f)
            note?("reading \(f.describe) from its start: rotated while no poll looked")
        }
    }

    /// Whether `f` is a file read before, or a copy of one (copytruncate's): the same full
    /// first bytes; for a shorter print, the same number and the same first bytes. The same
    /// number alone is not enough: ext4 gives a new file the number of one just deleted.
    func wasRead(_ f: LogFile) -> Bool {
        done.contains { d in
            if d.fingerprint.isFull { return d.fingerprint == f.fingerprint }
            return d.identity == f.identity && d.fingerprint.length > 0
                && Fingerprint(fd: f.fd, length: d.fingerprint.length) == d.fingerprint
        }
    }

    /// Closes the rotated files quiet for `rotatedQuiet` (and the oldest beyond
    /// `maxRotated`), each read to its end first.
    func closeQuiet(now: Int64, _ emit: (Bytes) -> Void) {
        while rotated.count > Self.maxRotated {
            var all = Int.max
            _ = try? rotated[0].read(budget: &all, buffer: buffer, clock: now, emit)
            retire(rotated.removeFirst(), emit)
        }
        rotated.removeAll { f in
            guard f.lastGrowth == Int64.min || now &- f.lastGrowth >= rotatedQuiet else { return false }
            retire(f, emit)
            return true
        }
    }

    /// A file no longer read: its last line handed out, and remembered as read.
    func retire(_ f: LogFile, _ emit: (Bytes) -> Void) {
        f.finish(emit)
        note?("finished with inode \(f.identity.inode) (opened as \(f.name)) at offset \(f.offset)")
        closedOversized += f.oversizedLines
        remember(f.identity, f.fingerprint)
    }

    func remember(_ id: FileIdentity, _ fp: Fingerprint) {
        done.append((id, fp))
        if done.count > 64 { done.removeFirst(done.count - 64) }
    }
}
