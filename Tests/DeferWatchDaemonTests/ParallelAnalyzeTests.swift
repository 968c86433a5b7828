import DeferWatchTestSupport
import Foundation
import Testing

/// Reading with several threads changes nothing: `--events`, the report and `--alerts` are
/// byte for byte those of one thread, over rotated files (two of them gzipped), a file whose
/// last line has no newline, over-long lines and garbage, and an Exim mainlog with
/// "retry time not reached" lines that inherit causes across segment and file boundaries.
@Suite struct ParallelAnalyzeTests {
    @Test(.enabled(if: TestPaths.genlog != nil, "../shared/bench/genlog.py is not there"))
    func severalThreadsGiveTheSameOutput() throws {
        let dir = TestPaths.temporaryDirectory("parallel")
        func gen(_ name: String, _ args: [String]) throws -> String {
            let path = dir.appendingPathComponent(name).path
            let r = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/python3"), [TestPaths.genlog!.path] + args + ["--out", path])
            #expect(r.status == 0, "\(r.stderr)")
            return try String(contentsOfFile: path, encoding: .utf8)
        }
        // 300k Postfix lines cut into four rotated files, the two oldest gzipped.
        let postfix = try gen("all.log", ["--lines", "300000", "--seed", "21"]).split(separator: "\n", omittingEmptySubsequences: false)
        let quarter = postfix.count / 4
        var files: [String] = []
        for (i, name) in ["mail.log.3", "mail.log.2", "mail.log.1", "mail.log"].enumerated() {
            var text = postfix[(i * quarter)..<(i == 3 ? postfix.count : (i + 1) * quarter)].joined(separator: "\n")
            if i < 3 { text += "\n" }
            if i == 1 { text += String(repeating: "x", count: 100_000) + "\n\u{1}\u{2}garbage \u{FF}\n" }
            let path = dir.appendingPathComponent(name).path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            // Oldest first by modification time, as after real rotations.
            var times = [timespec(tv_sec: 1_700_000_000 + i * 1000, tv_nsec: 0), timespec(tv_sec: 1_700_000_000 + i * 1000, tv_nsec: 0)]
            utimensat(AT_FDCWD, path, &times, 0)
            if i < 2 {
                let gz = try ProcessRunner.run(URL(fileURLWithPath: "/bin/gzip"), ["-n", path])
                #expect(gz.status == 0)
                files.append(path + ".gz")
            } else {
                files.append(path)
            }
        }
        let exim = dir.appendingPathComponent("mainlog").path
        _ = try gen("mainlog", ["--format", "exim", "--lines", "150000", "--seed", "22"])

        for (inputs, modes) in [(files, [["--events"], [], ["--json"], ["--alerts", "--json"]]),
                                ([exim], [["--events"], ["--alerts", "--json"]])] {
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
}
