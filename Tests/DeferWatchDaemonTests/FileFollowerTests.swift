import DeferWatchCore
import DeferWatchDaemon
import DeferWatchTestSupport
import Foundation
import Testing

/// Following a file through every rotation style, and resuming from checkpoints: every line
/// exactly once.
@Suite struct FileFollowerTests {
    final class Collector {
        var lines: [String] = []
        func poll(_ f: FileFollower) throws { try f.poll { self.lines.append($0.string) } }
    }

    static func append(_ path: String, _ text: String) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }

    static func numbered(_ range: Range<Int>) -> String { range.map { "line \($0)\n" }.joined() }
    static func expected(_ range: Range<Int>) -> [String] { range.map { "line \($0)" } }

    @Test func followsAppendsAndWaitsForTheNewline() throws {
        let path = TestPaths.temporaryDirectory().appendingPathComponent("mail.log").path
        let f = FileFollower(path: path, checkpoint: nil, startAtEnd: false)
        let c = Collector()
        try c.poll(f) // the file does not exist yet: wait
        #expect(c.lines.isEmpty)
        Self.append(path, Self.numbered(0..<3) + "partial")
        try c.poll(f)
        #expect(c.lines == Self.expected(0..<3))
        Self.append(path, " line\n")
        try c.poll(f)
        #expect(c.lines == Self.expected(0..<3) + ["partial line"])
    }

    @Test func firstStartBeginsAtTheEnd() throws {
        let path = TestPaths.temporaryDirectory().appendingPathComponent("mail.log").path
        Self.append(path, Self.numbered(0..<10))
        let f = FileFollower(path: path, checkpoint: nil, startAtEnd: true)
        let c = Collector()
        try c.poll(f)
        Self.append(path, Self.numbered(10..<12))
        try c.poll(f)
        #expect(c.lines == Self.expected(10..<12))
    }

    /// The daemon pins the start when it starts: lines written before its first poll are
    /// read, and a checkpoint taken before that poll resumes at the pinned end, not at the
    /// file's first line.
    @Test func pinnedStartKeepsLinesWrittenBeforeTheFirstPoll() throws {
        let path = TestPaths.temporaryDirectory().appendingPathComponent("mail.log").path
        Self.append(path, Self.numbered(0..<10))
        let f = FileFollower(path: path, checkpoint: nil, startAtEnd: true)
        try f.pinStart()
        let early = f.checkpoint
        Self.append(path, Self.numbered(10..<12))
        let c = Collector()
        try c.poll(f)
        #expect(c.lines == Self.expected(10..<12))

        let again = FileFollower(path: path, checkpoint: early, startAtEnd: true)
        let c2 = Collector()
        try c2.poll(again)
        #expect(c2.lines == Self.expected(10..<12))
    }

    /// A log that appears after the start and is rotated away before the first poll: the
    /// rotated file is read first. A `.1` that was there before the start is not read.
    @Test func aFileRotatedBeforeItsFirstPollIsReadFirst() throws {
        let dir = TestPaths.temporaryDirectory()
        let path = dir.appendingPathComponent("mail.log").path
        let f = FileFollower(path: path, checkpoint: nil, startAtEnd: true)
        Self.append(path, Self.numbered(0..<5))
        rename(path, path + ".1")
        Self.append(path, Self.numbered(5..<8))
        let c = Collector()
        try c.poll(f)
        #expect(c.lines == Self.expected(0..<8))

        let other = TestPaths.temporaryDirectory().appendingPathComponent("mail.log").path
        Self.append(other + ".1", "yesterday\n")
        let g = FileFollower(path: other, checkpoint: nil, startAtEnd: true)
        Self.append(other, Self.numbered(0..<2))
        let c2 = Collector()
        try c2.poll(g)
        #expect(c2.lines == Self.expected(0..<2))
    }

    @Test func renameAndCreateDrainsTheOldFileFirst() throws {
        let dir = TestPaths.temporaryDirectory()
        let path = dir.appendingPathComponent("mail.log").path
        let f = FileFollower(path: path, checkpoint: nil, startAtEnd: false)
        let c = Collector()
        Self.append(path, Self.numbered(0..<5))
        try c.poll(f)
        // The writer still has the old file open: lines land there after the rename.
        let old = open(path, O_WRONLY | O_APPEND)
        rename(path, path + ".1")
        _ = Self.numbered(5..<8).withCString { write(old, $0, strlen($0)) }
        close(old)
        Self.append(path, Self.numbered(8..<10))
        try c.poll(f)
        #expect(c.lines == Self.expected(0..<10))
    }

    /// What the follower does with files is said (the daemon puts it on stderr): a rotation
    /// seen, the new file read from its start, the old one finished with.
    @Test func rotationsAreSaid() throws {
        let path = TestPaths.temporaryDirectory().appendingPathComponent("mail.log").path
        var clock: Int64 = 0
        let f = FileFollower(path: path, checkpoint: nil, start: .beginning, rotatedQuiet: 1_000_000, clock: { clock })
        var notes: [String] = []
        f.note = { notes.append($0) }
        let c = Collector()
        Self.append(path, Self.numbered(0..<5))
        try c.poll(f)
        rename(path, path + ".1")
        Self.append(path, Self.numbered(5..<7))
        try c.poll(f)
        clock += 2_000_000
        try c.poll(f)
        #expect(c.lines == Self.expected(0..<7))
        #expect(notes.count == 4, "\(notes)")
        #expect(notes.first?.contains("from its start") == true, "\(notes)")
        #expect(notes.contains { $0.contains("was rotated away") && $0.contains("offset 35") }, "\(notes)")
        #expect(notes.contains { $0.hasPrefix("finished with inode") }, "\(notes)")
    }

    /// ext4 gives a new file the inode number of one just deleted: a file rotated while no
    /// poll looked, with the number of a file read and closed before, is another file (its
    /// first bytes say so) and is read, not skipped as already read.
    @Test func aRotatedFileReusingTheInodeOfAFinishedOneIsRead() throws {
        // Other tests make files at the same time and may take the freed number first: the
        // scenario is tried until the number is reused.
        for _ in 0..<50 {
            guard let lines = try Self.inodeReuseScenario() else { continue }
            #expect(lines == Self.expected(0..<14))
            return
        }
        Issue.record("the file system never reused a freed inode number in 50 tries: this test needs one that does, as ext4")
    }

    /// The lines read, or nil when the file system did not reuse the inode number.
    static func inodeReuseScenario() throws -> [String]? {
        let path = TestPaths.temporaryDirectory().appendingPathComponent("mail.log").path
        var clock: Int64 = 0
        let f = FileFollower(path: path, checkpoint: nil, start: .beginning, rotatedQuiet: 1_000_000, clock: { clock })
        let c = Collector()
        Self.append(path, Self.numbered(0..<5))
        try c.poll(f)
        let first = Self.inode(path)
        rename(path, path + ".1")
        Self.append(path, Self.numbered(5..<8))
        try c.poll(f)
        clock += 2_000_000
        try c.poll(f) // the first file is finished with and closed
        unlink(path + ".1")
        // Two rotations between polls; the file in between gets the freed inode number.
        rename(path, path + ".2")
        Self.append(path, Self.numbered(8..<12))
        let reused = Self.inode(path)
        rename(path, path + ".1")
        Self.append(path, Self.numbered(12..<14))
        try c.poll(f)
        clock += 2_000_000
        try c.poll(f)
        return reused == first ? c.lines : nil
    }

    static func inode(_ path: String) -> UInt64 {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : 0
    }

    @Test func copytruncateStartsAgainAtTheBeginning() throws {
        let path = TestPaths.temporaryDirectory().appendingPathComponent("mail.log").path
        let f = FileFollower(path: path, checkpoint: nil, startAtEnd: false)
        let c = Collector()
        Self.append(path, Self.numbered(0..<5))
        try c.poll(f)
        truncate(path, 0)
        Self.append(path, Self.numbered(5..<7))
        try c.poll(f)
        #expect(c.lines == Self.expected(0..<7))
    }

    /// logrotate's copytruncate: lines written after the last poll went to the copy; they
    /// are read from there before the emptied file starts again.
    @Test func copytruncateReadsTheUnreadTailFromTheCopy() throws {
        // Written again, beyond the old length, before the next poll: caught by the first bytes.
        let (_, _, c) = try Self.copytruncated(after: 40)
        #expect(c.lines == Self.expected(0..<40))
    }

    /// Lines 0-4 read, 5-8 written and left unread, the file copied to `.1` and emptied,
    /// lines 9..<`end` written to it again, and a poll.
    static func copytruncated(after end: Int) throws -> (String, FileFollower, Collector) {
        let path = TestPaths.temporaryDirectory().appendingPathComponent("mail.log").path
        let f = FileFollower(path: path, checkpoint: nil, startAtEnd: false)
        let c = Collector()
        append(path, numbered(0..<5))
        try c.poll(f)
        append(path, numbered(5..<9))
        try FileManager.default.copyItem(atPath: path, toPath: path + ".1")
        truncate(path, 0)
        append(path, numbered(9..<end))
        try c.poll(f)
        return (path, f, c)
    }

    /// A copytruncate with nothing left unread: the copy is found all the same (and said so),
    /// not reported as missing.
    @Test func aCopytruncateWithNothingUnreadFindsTheCopy() throws {
        let path = TestPaths.temporaryDirectory().appendingPathComponent("mail.log").path
        let f = FileFollower(path: path, checkpoint: nil, startAtEnd: false)
        var notes: [String] = []
        f.note = { notes.append($0) }
        let c = Collector()
        Self.append(path, Self.numbered(0..<5))
        try c.poll(f)
        try FileManager.default.copyItem(atPath: path, toPath: path + ".1")
        truncate(path, 0)
        Self.append(path, Self.numbered(5..<7))
        try c.poll(f)
        #expect(c.lines == Self.expected(0..<7))
        #expect(notes.contains { $0.contains("holds nothing unread") }, "\(notes)")
        #expect(!notes.contains { $0.contains("no copy found") }, "\(notes)")
    }

    /// A restart just after a copytruncate (the soak found it: one copy, 21 MB, read twice):
    /// the copy was read by the run before, and the next run must not take it for a file
    /// rotated while no one looked. What a run finished reading is in its checkpoint.
    @Test func aRestartJustAfterACopytruncateDoesNotReadTheCopyAgain() throws {
        let (path, f, c) = try Self.copytruncated(after: 12)
        #expect(c.lines == Self.expected(0..<12))
        // Restarted at once, from the checkpoint taken after the copytruncate.
        let cp = try #require(f.checkpoint)
        let again = FileFollower(path: path, checkpoint: cp, startAtEnd: false)
        Self.append(path, Self.numbered(12..<14))
        try c.poll(again)
        #expect(c.lines == Self.expected(0..<14))
        // Also when the checkpoint went through JSON, as the daemon's does.
        let decoded = try JSONDecoder().decode(FileCheckpoint.self, from: JSONEncoder().encode(cp))
        let third = FileFollower(path: path, checkpoint: decoded, startAtEnd: false)
        var more: [String] = []
        try third.poll { more.append($0.string) }
        #expect(more == Self.expected(12..<14))
    }

    /// First start with a lookback: reading begins at the first line stamped at or after the
    /// cutoff, found by bisection, past untimed and over-long lines.
    @Test func lookbackStartsAtTheFirstLineInTheWindow() throws {
        let path = TestPaths.temporaryDirectory().appendingPathComponent("mail.log").path
        var text = ""
        for i in 0..<60_000 {
            text += "\(1_000_000 + i * 2) line \(i)\n"
            if i % 997 == 0 { text += "no time here\n" }
            if i % 20_011 == 0 { text += "x" + String(repeating: "y", count: 100_000) + "\n" }
        }
        Self.append(path, text)
        let lineTime: (Bytes) -> Int64? = { line in
            guard let sp = line.index(of: 0x20), let n = Int64(line.slice(0, sp).string) else { return nil }
            return n
        }
        for (cutoff, first) in [(0, 0), (1_000_000, 0), (1_000_001, 1), (1_050_000, 25_000), (1_119_998, 59_999)] as [(Int64, Int)] {
            let f = FileFollower(path: path, checkpoint: nil, start: .since(time: cutoff, lineTime: lineTime))
            let c = Collector()
            try c.poll(f)
            #expect(c.lines.first == "\(1_000_000 + first * 2) line \(first)", "cutoff \(cutoff)")
            #expect(c.lines.filter { !$0.hasPrefix("no time") && !$0.hasPrefix("xy") }.count == 60_000 - first)
        }
        // After the last line: nothing old is read, new lines are.
        let f = FileFollower(path: path, checkpoint: nil, start: .since(time: 9_999_999, lineTime: lineTime))
        let c = Collector()
        try c.poll(f)
        #expect(c.lines.isEmpty)
        Self.append(path, "9999999 new\n")
        try c.poll(f)
        #expect(c.lines == ["9999999 new"])
    }

    @Test func deleteAndRecreate() throws {
        let path = TestPaths.temporaryDirectory().appendingPathComponent("mail.log").path
        let f = FileFollower(path: path, checkpoint: nil, startAtEnd: false)
        let c = Collector()
        Self.append(path, Self.numbered(0..<3))
        try c.poll(f)
        unlink(path)
        try c.poll(f) // gone: nothing, no error
        Self.append(path, Self.numbered(3..<6))
        try c.poll(f)
        #expect(c.lines == Self.expected(0..<6))
    }

    /// A restart resumes exactly after the last complete line: nothing lost, nothing twice,
    /// also when the file was rotated while deferwatch was down.
    @Test func resumesFromCheckpointsExactlyOnce() throws {
        let dir = TestPaths.temporaryDirectory()
        let path = dir.appendingPathComponent("mail.log").path
        let store = CheckpointStore(directory: dir.path)
        let c = Collector()
        var f = FileFollower(path: path, checkpoint: nil, startAtEnd: false)
        Self.append(path, Self.numbered(0..<100) + "half a li")
        try c.poll(f)
        try store.save(f.checkpoint, as: "files.json")
        // "Crash", more lines, restart.
        Self.append(path, "ne\n" + Self.numbered(100..<150))
        f = FileFollower(path: path, checkpoint: try store.load(FileCheckpoint.self, from: "files.json"), startAtEnd: true)
        try c.poll(f)
        try store.save(f.checkpoint, as: "files.json")
        // Down again; meanwhile the log is rotated (rename and create) and written on.
        Self.append(path, Self.numbered(150..<160))
        rename(path, path + ".1")
        Self.append(path, Self.numbered(160..<170))
        f = FileFollower(path: path, checkpoint: try store.load(FileCheckpoint.self, from: "files.json"), startAtEnd: true)
        try c.poll(f)
        #expect(c.lines == Self.expected(0..<100) + ["half a line"] + Self.expected(100..<170))
    }

    @Test func aDamagedCheckpointIsAnErrorNotAFreshStart() throws {
        let dir = TestPaths.temporaryDirectory()
        try "{not json".write(toFile: dir.appendingPathComponent("files.json").path, atomically: true, encoding: .utf8)
        let store = CheckpointStore(directory: dir.path)
        #expect(throws: InputError.self) { _ = try store.load(FileCheckpoint.self, from: "files.json") }
        #expect(try store.load(FileCheckpoint.self, from: "absent.json") == nil)
    }
}

extension FileFollowerTests {
    /// Writes cut anywhere (mid-line), restarts from the last checkpoint at random: every
    /// line exactly once.
    @Test func randomCutsAndRestartsCountEveryLineOnce() throws {
        let dir = TestPaths.temporaryDirectory()
        let path = dir.appendingPathComponent("mail.log").path
        var rng = SeededRandom.fromEnvironment()
        let text = Array(Self.numbered(0..<20_000).utf8)
        var written = 0
        var saved: FileCheckpoint?
        var counted = 0          // as of the saved checkpoint
        var live = 0             // since the saved checkpoint
        var f = FileFollower(path: path, checkpoint: nil, startAtEnd: false)
        // As the daemon does: the starting position is saved before anything is read.
        saved = f.checkpoint
        while written < text.count {
            let n = min(text.count - written, Int.random(in: 1...5000, using: &rng))
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
            _ = text[written..<(written + n)].withUnsafeBytes { write(fd, $0.baseAddress, n) }
            close(fd)
            written += n
            try f.poll { _ in live += 1 }
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: // checkpoint
                saved = f.checkpoint
                counted += live
                live = 0
            case 1: // crash: what was read since the checkpoint is read again
                live = 0
                f = FileFollower(path: path, checkpoint: saved, startAtEnd: true)
            default: break
            }
        }
        try f.poll { _ in live += 1 }
        #expect(counted + live == 20_000)
    }
}
