import DeferWatchCore
import DeferWatchDaemon
import DeferWatchTestSupport
import Foundation
import Testing

/// A .gz file inflated whole (libdeflate, when the budget has room) gives the same text and
/// the same error as one streamed through zlib, whatever is wrong with it: members
/// concatenated with cat (the first larger than the buffer the trailer sizes), garbage after
/// a member, a cut in the middle, a flipped byte, a trailer that lies, no content at all.
@Suite struct WholeGzipTests {
    static func gzip(_ text: String, in dir: URL) throws -> Data {
        let plain = dir.appendingPathComponent("part-\(UUID().uuidString)")
        try text.write(to: plain, atomically: true, encoding: .utf8)
        let r = try ProcessRunner.run(URL(fileURLWithPath: "/bin/gzip"), ["-n", "-c", plain.path])
        guard r.status == 0 else { throw FixtureError(message: "gzip: \(r.stderr)") }
        try FileManager.default.removeItem(at: plain)
        return r.stdout
    }

    /// Lines of a log, `count` of them, numbered so that a lost or repeated line shows.
    static func lines(_ count: Int, from first: Int = 0) -> String {
        (first..<(first + count)).map { "Dec  3 10:00:00 mx1 postfix/smtp[1]: line \($0) of the test\n" }.joined()
    }

    /// The text read and the error met (its description), with or without a budget.
    static func read(_ path: String, budget: InflateBudget?) -> (text: Data, error: String?) {
        let reader = ChunkReader(path: path)
        var text = Data()
        do {
            let (fd, _) = try reader.open()
            try reader.read(fd: fd, body: { text.append(contentsOf: $0) }, budget: budget)
            return (text, nil)
        } catch {
            return (text, "\(error)")
        }
    }

    @Test func wholeAndStreamedGiveTheSameTextAndErrors() throws {
        let dir = TestPaths.temporaryDirectory("wholegz")
        defer { try? FileManager.default.removeItem(at: dir) }
        let big = try Self.gzip(Self.lines(40_000), in: dir)
        let small = try Self.gzip(Self.lines(300, from: 40_000), in: dir)
        var flipped = big
        flipped[flipped.count / 2] ^= 0x55
        // The inflated size in the trailer says 2 GiB (too large to inflate whole), or 16 bytes
        // (too small a buffer): both readers find the length check fails.
        var hugeTrailer = small
        hugeTrailer.replaceSubrange((hugeTrailer.count - 4)..., with: [0, 0, 0, 0x80])
        var tinyTrailer = small
        tinyTrailer.replaceSubrange((tinyTrailer.count - 4)..., with: [16, 0, 0, 0])
        let cases: [(String, Data, Bool)] = [
            ("single.gz", big, true),
            ("members.gz", big + small + big, true),
            ("members-small-last.gz", big + small, true),
            ("garbage-after.gz", small + Data("not gzip at all\n".utf8), false),
            ("zeros-after.gz", small + Data(repeating: 0, count: 512), false),
            ("cut.gz", big.prefix(big.count * 2 / 3), false),
            ("cut-second-member.gz", small + big.prefix(big.count / 2), false),
            ("flipped.gz", flipped, false),
            ("huge-trailer.gz", hugeTrailer, false),
            ("tiny-trailer.gz", tinyTrailer, false),
            ("empty.gz", try Self.gzip("", in: dir), true),
        ]
        for (name, bytes, clean) in cases {
            let path = dir.appendingPathComponent(name).path
            try bytes.write(to: URL(fileURLWithPath: path))
            let streamed = Self.read(path, budget: nil)
            #expect((streamed.error == nil) == clean, "\(name): \(streamed.error ?? "no error")")
            for budget in [InflateBudget(bytes: 96 << 20), InflateBudget(bytes: 0), InflateBudget(bytes: bytes.count + 4096)] {
                let whole = Self.read(path, budget: budget)
                #expect(whole.text == streamed.text, "\(name), budget \(budget.limit): \(whole.text.count) bytes against \(streamed.text.count)")
                #expect(whole.error == streamed.error, "\(name), budget \(budget.limit)")
            }
        }
        // The concatenated members are all there, in order.
        let members = Self.read(dir.appendingPathComponent("members.gz").path, budget: InflateBudget(bytes: 96 << 20))
        #expect(members.text == Data((Self.lines(40_000) + Self.lines(300, from: 40_000) + Self.lines(40_000)).utf8))
    }

    /// Threads that inflate at the same time share one budget: what does not fit streams,
    /// and what was reserved is given back (the same budget serves again afterwards).
    @Test func theBudgetIsSharedAndGivenBack() throws {
        let dir = TestPaths.temporaryDirectory("wholegz-budget")
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = Self.lines(20_000)
        let path = dir.appendingPathComponent("a.gz").path
        try Self.gzip(text, in: dir).write(to: URL(fileURLWithPath: path))
        // Room for about one file at a time.
        let budget = InflateBudget(bytes: text.utf8.count * 3 / 2)
        let results = ResultBox()
        DispatchQueue.concurrentPerform(iterations: 6) { _ in
            results.add(Self.read(path, budget: budget).text)
        }
        #expect(results.all.count == 6)
        #expect(results.all.allSatisfy { $0 == Data(text.utf8) })
        #expect(budget.inUse == 0)
    }

    /// `analyze --events` over .gz files read in parts (one of several MiB), a file of two
    /// members, a cut one and a plain one: the same lines and errors with any number of
    /// threads and any budget, from none (every file streams through zlib) to one that
    /// holds a single file (the next ones stream, or wait for it).
    @Test func partsAndStreamsGiveTheSameEvents() throws {
        let dir = TestPaths.temporaryDirectory("wholegz-analyze")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Deferrals and deliveries of numbered messages, about 5 MiB in the largest file.
        func log(_ range: Range<Int>) -> String {
            range.map { i in
                let d = "d\(i % 97).example"
                let status = i % 3 == 0 ? "deferred (host mx.\(d)[192.0.2.\(i % 200)] said: 421 4.7.0 Try again later (in reply to RCPT TO command))"
                                        : "sent (250 2.0.0 Ok: queued as \(i))"
                return "Dec  3 \(String(format: "%02d:%02d:%02d", i / 3600 % 24, i / 60 % 60, i % 60)) mx1 postfix/smtp[\(i % 9000)]: "
                    + "\(String(format: "%010X", i)): to=<u\(i)@\(d)>, relay=mx.\(d)[192.0.2.\(i % 200)]:25, delay=1, "
                    + "delays=0/0/0/1, dsn=\(i % 3 == 0 ? "4.7.0" : "2.0.0"), status=\(status)\n"
            }.joined()
        }
        let big = log(0..<24_000)
        #expect(big.utf8.count > 4 << 20)
        var files: [(String, Data)] = [
            ("mail.log.4.gz", try Self.gzip(big, in: dir)),
            ("mail.log.3.gz", try Self.gzip(log(24_000..<25_000), in: dir) + Self.gzip(log(25_000..<27_000), in: dir)),
            ("mail.log.2.gz", try Self.gzip(log(27_000..<30_000), in: dir)),
        ]
        files[2].1 = files[2].1.prefix(files[2].1.count * 3 / 4)
        files.append(("mail.log.1", Data(log(30_000..<31_000).utf8)))
        var paths: [String] = []
        for (i, (name, bytes)) in files.enumerated() {
            let path = dir.appendingPathComponent(name).path
            try bytes.write(to: URL(fileURLWithPath: path))
            var times = [timespec(tv_sec: 1_764_000_000 + i * 1000, tv_nsec: 0), timespec(tv_sec: 1_764_000_000 + i * 1000, tv_nsec: 0)]
            utimensat(AT_FDCWD, path, &times, 0)
            paths.append(path)
        }
        func events(threads: Int, budget: Int) -> (Data, [String]) {
            var options = BatchAnalyzer.Options(inputs: paths, rules: RuleSet.builtin(), defaultHost: "mx9", zone: FixedOffsetZone())
            options.threads = threads
            options.inflateBudget = budget
            let analyzer = BatchAnalyzer(options: options)
            var engine = analyzer.engine()
            var out = Data()
            let result = analyzer.runEventLines(&engine) { out.append(contentsOf: $0) }
            return (out, result.errors.map { "\($0)" })
        }
        let reference = events(threads: 1, budget: 0)
        #expect(reference.0.count > 1_000_000)
        #expect(reference.1.count == 1 && reference.1[0].contains("mail.log.2.gz: truncated gzip file"), "\(reference.1)")
        for threads in [1, 2, 3] {
            for budget in [0, big.utf8.count + (1 << 20), 96 << 20] {
                let got = events(threads: threads, budget: budget)
                #expect(got.0 == reference.0, "\(threads) threads, budget \(budget): the events differ")
                #expect(got.1 == reference.1, "\(threads) threads, budget \(budget)")
            }
        }
    }

    final class ResultBox: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var all: [Data] = []
        func add(_ d: Data) { lock.lock(); all.append(d); lock.unlock() }
    }
}
