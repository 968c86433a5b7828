import DeferWatchTestSupport
import Foundation
import Testing

/// Reading with several threads changes nothing: `--events`, the report and `--alerts` are
/// byte for byte those of one thread, over rotated files (the oldest gzipped), a file whose
/// last line has no newline, over-long lines and garbage, and an Exim mainlog with
/// "retry time not reached" lines that inherit causes across segment and file boundaries.
@Suite struct ParallelAnalyzeTests {
    /// Logs made by ../shared/bench/genlog.py and committed, so the test runs in every clone
    /// (Fixtures/parallel-*.log.gz: `--lines 24000 --seed 21` and `--format exim --lines 12000
    /// --seed 22 --rate 25`, both with `--episodes` of Fixtures/parallel-episodes.json).
    static func fixture(_ name: String) throws -> String {
        let gz = TestPaths.packageRoot.appendingPathComponent("Tests/DeferWatchDaemonTests/Fixtures/\(name).gz").path
        let r = try ProcessRunner.run(URL(fileURLWithPath: "/bin/gzip"), ["-dc", gz])
        guard r.status == 0 else { throw FixtureError(message: "gzip -dc \(gz): \(r.stderr)") }
        return r.stdoutText
    }

    @Test func severalThreadsGiveTheSameOutput() throws {
        let dir = TestPaths.temporaryDirectory("parallel")
        // 24k Postfix lines cut into three rotated files: the oldest gzipped, the two
        // others over 1 MiB, so each is read as two segments.
        let postfix = try Self.fixture("parallel-postfix.log").split(separator: "\n", omittingEmptySubsequences: false)
        let cuts = [0, postfix.count / 4, postfix.count * 5 / 8, postfix.count]
        var files: [String] = []
        for (i, name) in ["mail.log.2", "mail.log.1", "mail.log"].enumerated() {
            var text = postfix[cuts[i]..<cuts[i + 1]].joined(separator: "\n")
            if i < 2 { text += "\n" }
            if i == 1 { text += String(repeating: "x", count: 100_000) + "\n\u{1}\u{2}garbage \u{FF}\n" }
            let path = dir.appendingPathComponent(name).path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            // Oldest first by modification time, as after real rotations.
            var times = [timespec(tv_sec: 1_700_000_000 + i * 1000, tv_nsec: 0), timespec(tv_sec: 1_700_000_000 + i * 1000, tv_nsec: 0)]
            utimensat(AT_FDCWD, path, &times, 0)
            if i == 0 {
                let gz = try ProcessRunner.run(URL(fileURLWithPath: "/bin/gzip"), ["-n", path])
                #expect(gz.status == 0)
                files.append(path + ".gz")
            } else {
                #expect(text.utf8.count > (1 << 20) * 5 / 4, "\(name) is read as one segment only")
                files.append(path)
            }
        }
        let exim = dir.appendingPathComponent("mainlog").path
        try Self.fixture("parallel-exim.log").write(toFile: exim, atomically: true, encoding: .utf8)

        for (inputs, modes) in [(files, [["--events"], [], ["--json"], ["--alerts", "--json"], ["--queue", "--json"]]),
                                ([exim], [["--events"], ["--alerts", "--json"], ["--queue", "--json"]])] {
            for mode in modes {
                let one = try ProcessRunner.deferwatch(["analyze", "--utc", "--host", "mx9", "--threads", "1"] + mode + inputs)
                #expect(one.status == 0, "\(one.stderr)")
                #expect(one.stdout.count > 1000)
                for threads in ["2", "3"] {
                    let many = try ProcessRunner.deferwatch(["analyze", "--utc", "--host", "mx9", "--threads", threads] + mode + inputs)
                    #expect(many.status == one.status)
                    #expect(many.stdout == one.stdout, "\(mode) with \(threads) threads differs from one thread")
                    #expect(many.stderr == one.stderr)
                }
            }
        }
    }

    /// A month's worth of rotation in small: eight files, six of them gzipped (one of two
    /// members concatenated with cat, one cut short), read in parallel: every mode is the
    /// same with one thread and with several, the cut file's error included.
    @Test func manyRotatedFilesGzippedPlainAndDamaged() throws {
        let dir = TestPaths.temporaryDirectory("parallel-rotated")
        defer { try? FileManager.default.removeItem(at: dir) }
        let postfix = try Self.fixture("parallel-postfix.log").split(separator: "\n", omittingEmptySubsequences: true)
        let parts = 8
        // The oldest file holds 60% of the lines, over 2 MiB: it is read as three parts,
        // the others as one each.
        let cuts = [0] + (0..<parts).map { postfix.count * 6 / 10 + postfix.count * 4 / 10 * $0 / (parts - 1) }
        var files: [String] = []
        for i in 0..<parts {
            let number = parts - 1 - i
            let name = number == 0 ? "mail.log" : "mail.log.\(number)"
            let lines = postfix[cuts[i]..<cuts[i + 1]]
            if i == 0 { #expect(lines.reduce(0) { $0 + $1.utf8.count + 1 } > 2 << 20) }
            let path = dir.appendingPathComponent(name).path
            if number >= 2 {
                // Two members when number is 5: the halves gzipped apart and concatenated.
                let halves = number == 5 ? [lines.prefix(lines.count / 2), lines.dropFirst(lines.count / 2)] : [lines[...]]
                var bytes = Data()
                for half in halves { bytes += try WholeGzipTests.gzip(half.joined(separator: "\n") + "\n", in: dir) }
                // Cut short when number is 3: the lines before the cut are read, then the error.
                if number == 3 { bytes = bytes.prefix(bytes.count / 2) }
                try bytes.write(to: URL(fileURLWithPath: path + ".gz"))
                files.append(path + ".gz")
            } else {
                try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
                files.append(path)
            }
            var times = [timespec(tv_sec: 1_700_000_000 + i * 1000, tv_nsec: 0), timespec(tv_sec: 1_700_000_000 + i * 1000, tv_nsec: 0)]
            utimensat(AT_FDCWD, files.last!, &times, 0)
        }
        for mode in [["--events"], ["--json"], ["--alerts", "--json"]] {
            let one = try ProcessRunner.deferwatch(["analyze", "--utc", "--host", "mx9", "--threads", "1"] + mode + files)
            #expect(one.stdout.count > 1000)
            #expect(one.stderr.contains("mail.log.3.gz: truncated gzip file"), "\(one.stderr)")
            for threads in ["2", "3"] {
                let many = try ProcessRunner.deferwatch(["analyze", "--utc", "--host", "mx9", "--threads", threads] + mode + files.reversed())
                #expect(many.status == one.status)
                #expect(many.stdout == one.stdout, "\(mode) with \(threads) threads differs from one thread")
                #expect(many.stderr == one.stderr)
            }
        }
    }
}
