import DeferWatchCore
import DeferWatchDaemon
import DeferWatchTestSupport
import Foundation
import Testing

/// The rotations real hosts do between two polls, and writers that do not let go: every line
/// exactly once. The follower's clock is the test's, so "quiet for a while" takes no sleep.
@Suite struct FileRotationTests {
    typealias T = FileFollowerTests

    /// A clock the test moves (microseconds).
    final class Clock: @unchecked Sendable {
        var now: Int64 = 1_000_000_000
        func advance(seconds: Int64) { now += seconds * 1_000_000 }
    }

    static func follower(_ path: String, checkpoint: FileCheckpoint? = nil, clock: Clock) -> FileFollower {
        FileFollower(path: path, checkpoint: checkpoint, start: .beginning, rotatedQuiet: 5_000_000, clock: { clock.now })
    }

    /// A log path in a fresh directory, a test clock, a follower of the path on that clock,
    /// and a collector of the lines.
    static func fresh() -> (path: String, clock: Clock, follower: FileFollower, lines: T.Collector) {
        let path = TestPaths.temporaryDirectory("rotation").appendingPathComponent("mail.log").path
        let clock = Clock()
        return (path, clock, follower(path, clock: clock), T.Collector())
    }

    /// The log path a symlink to a.log (lines 0..<10), b.log empty beside it, a follower of
    /// the path on a test clock and a collector.
    static func symlinked() -> (path: String, a: String, b: String, clock: Clock, follower: FileFollower, lines: T.Collector) {
        let dir = TestPaths.temporaryDirectory("rotation")
        let path = dir.appendingPathComponent("mail.log").path
        let a = dir.appendingPathComponent("a.log").path, b = dir.appendingPathComponent("b.log").path
        T.append(a, T.numbered(0..<10))
        T.append(b, "")
        symlink(a, path)
        let clock = Clock()
        return (path, a, b, clock, follower(path, clock: clock), T.Collector())
    }

    /// Moves the symlink at `path` to `target`.
    static func point(_ path: String, to target: String) {
        unlink(path)
        symlink(target, path)
    }

    static func counts(_ lines: [String]) -> [String: Int] { lines.reduce(into: [:]) { $0[$1, default: 0] += 1 } }

    /// Every expected line once, none other: the order of lines of different files may differ.
    static func expectOnce(_ lines: [String], _ range: Range<Int>, sourceLocation: SourceLocation = #_sourceLocation) {
        let c = counts(lines)
        let missing = range.filter { c["line \($0)"] == nil }
        let twice = c.filter { $0.value > 1 }.map(\.key).sorted()
        #expect(missing.isEmpty, "\(missing.count) lines lost, first \(missing.prefix(5))", sourceLocation: sourceLocation)
        #expect(twice.isEmpty, "read twice: \(twice.prefix(5))", sourceLocation: sourceLocation)
        #expect(lines.count == range.count, sourceLocation: sourceLocation)
    }

    /// logrotate's numbered names: `path.N` moves to `path.N+1`, `path` to `path.1`.
    static func rotateNumbered(_ path: String, keep: Int = 20) {
        for n in stride(from: keep - 1, through: 1, by: -1) { rename("\(path).\(n)", "\(path).\(n + 1)") }
        rename(path, path + ".1")
    }

    /// Ten rotations while one poll comes every third: the files that were the log only
    /// between two polls are found by their rotated names and read.
    @Test func tenRenamesBetweenPollsLoseNothing() throws {
        let (path, clock, f, c) = Self.fresh()
        for r in 0..<10 {
            T.append(path, T.numbered((r * 100)..<(r * 100 + 100)))
            Self.rotateNumbered(path)
            if r % 3 == 0 { try c.poll(f) }
        }
        T.append(path, T.numbered(1000..<1010))
        try c.poll(f)
        clock.advance(seconds: 10)
        try c.poll(f)
        Self.expectOnce(c.lines, 0..<1010)
        #expect(f.openFiles == 1, "rotated files are closed once quiet")
    }

    /// `dateext` names (`mail.log-20261201`), two rotations between polls.
    @Test func dateextNamesAreFollowed() throws {
        let (path, _, f, c) = Self.fresh()
        T.append(path, T.numbered(0..<50))
        try c.poll(f)
        T.append(path, T.numbered(50..<100))
        rename(path, path + "-20261130")
        T.append(path, T.numbered(100..<150))
        rename(path, path + "-20261201")
        T.append(path, T.numbered(150..<200))
        try c.poll(f)
        Self.expectOnce(c.lines, 0..<200)
    }

    /// rsyslog after logrotate's `create`: the writer keeps writing to the renamed file
    /// until its HUP comes; those lines are read while the file is not quiet for long.
    @Test func aLateWriterToTheRenamedFileIsRead() throws {
        let (path, clock, f, c) = Self.fresh()
        let writer = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        defer { close(writer) }
        func write(_ r: Range<Int>) { _ = T.numbered(r).withCString { Glibc.write(writer, $0, strlen($0)) } }
        write(0..<10)
        try c.poll(f)
        rename(path, path + ".1")
        T.append(path, "")
        for k in 0..<30 {
            write((10 + k * 10)..<(20 + k * 10))
            try c.poll(f)
            clock.advance(seconds: 1)
        }
        T.append(path, T.numbered(310..<320))
        try c.poll(f)
        #expect(f.openFiles == 2)
        clock.advance(seconds: 6)
        try c.poll(f)
        #expect(f.openFiles == 1)
        Self.expectOnce(c.lines, 0..<320)
    }

    /// A symlinked log path swapped to another target; the old target is written on.
    @Test func aSwappedSymlinkKeepsTheOldTargetUntilQuiet() throws {
        let (path, a, b, clock, f, c) = Self.symlinked()
        try c.poll(f)
        T.append(b, T.numbered(10..<20))
        Self.point(path, to: b)
        try c.poll(f)
        T.append(a, T.numbered(20..<320))
        try c.poll(f)
        clock.advance(seconds: 6)
        try c.poll(f)
        Self.expectOnce(c.lines, 0..<320)
    }

    /// The symlink moved to another target and back again while the old one was still
    /// read: the old file goes on from where it stood, not from its start.
    @Test func aSymlinkMovedBackGoesOnWhereItStood() throws {
        let (path, a, b, clock, f, c) = Self.symlinked()
        try c.poll(f)
        Self.point(path, to: b)
        try c.poll(f)
        Self.point(path, to: a)
        T.append(a, T.numbered(10..<20))
        try c.poll(f)
        clock.advance(seconds: 6)
        try c.poll(f)
        Self.expectOnce(c.lines, 0..<20)
    }

    /// A restart while a rotated file is still being read: the checkpoint holds it too.
    @Test func aRestartResumesTheRotatedFileToo() throws {
        let (path, clock, first, c) = Self.fresh()
        var f = first
        let writer = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        defer { close(writer) }
        _ = T.numbered(0..<10).withCString { write(writer, $0, strlen($0)) }
        try c.poll(f)
        rename(path, path + ".1")
        T.append(path, T.numbered(10..<20))
        try c.poll(f)
        let saved = try JSONDecoder().decode(FileCheckpoint.self, from: JSONEncoder().encode(f.checkpoint))
        // Down; the late writer writes on, and the log is rotated once more.
        _ = T.numbered(20..<30).withCString { write(writer, $0, strlen($0)) }
        T.append(path, T.numbered(30..<40))
        Self.rotateNumbered(path)
        T.append(path, T.numbered(40..<50))
        f = Self.follower(path, checkpoint: saved, clock: clock)
        try c.poll(f)
        Self.expectOnce(c.lines, 0..<50)
    }

    /// copytruncate while deferwatch was down: the copy's unread tail is read, and the copy
    /// is not taken for a log no poll saw (it was read twice).
    @Test func aCopytruncateWhileDownIsReadOnce() throws {
        let (path, clock, first, c) = Self.fresh()
        var f = first
        T.append(path, T.numbered(0..<40))
        try c.poll(f)
        let saved = f.checkpoint
        T.append(path, T.numbered(40..<50))
        try FileManager.default.copyItem(atPath: path, toPath: path + ".1")
        truncate(path, 0)
        T.append(path, T.numbered(50..<60))
        f = Self.follower(path, checkpoint: saved, clock: clock)
        try c.poll(f)
        Self.expectOnce(c.lines, 0..<60)
    }

    /// The log path briefly a directory, then a file again: reading goes on by itself, the
    /// new file from its start.
    @Test func aPathReplacedByADirectoryRecovers() throws {
        let (path, _, f, c) = Self.fresh()
        T.append(path, T.numbered(0..<10))
        try c.poll(f)
        rename(path, path + ".1")
        mkdir(path, 0o755)
        #expect(throws: InputError.self) { try c.poll(f) }
        #expect(throws: InputError.self) { try c.poll(f) }
        rmdir(path)
        T.append(path, T.numbered(10..<20))
        try c.poll(f)
        try c.poll(f)
        Self.expectOnce(c.lines, 0..<20)
        // Unreadable, then readable again (not as root: root reads anything).
        if getuid() != 0 {
            chmod(path, 0)
            rename(path, path + ".2")
            T.append(path, T.numbered(20..<30))
            chmod(path, 0)
            _ = try? c.poll(f)
            chmod(path, 0o644)
            try c.poll(f)
            Self.expectOnce(c.lines, 0..<30)
        }
    }

    /// A FIFO at the log path must not block the daemon's loop.
    @Test func aFifoAtThePathIsAnErrorNotAHang() throws {
        let path = TestPaths.temporaryDirectory("rotation").appendingPathComponent("mail.log").path
        mkfifo(path, 0o644)
        let f = Self.follower(path, clock: Clock())
        #expect(throws: InputError.self) { try f.poll { _ in } }
    }
}
