import DeferWatchCore
import DeferWatchTestSupport
import Foundation
import Testing

/// Streaming parsers give the same events however the bytes are cut: all at once, byte by
/// byte, and at random boundaries.
@Suite struct ChunkingTests {
    static func sample() throws -> [UInt8] {
        var bytes = Array(try String(contentsOf: FixtureTests.dir.appendingPathComponent("parsing.fixtures"), encoding: .utf8).utf8)
        if let corpus = TestPaths.corpus {
            for f in ["postfix/mensetmanus-gomaillex.log", "exim/gvengel-exim_exporter.log", "exim/alaveteli-fixtures.log"] {
                if let d = FileManager.default.contents(atPath: corpus.appendingPathComponent(f).path) { bytes += Array(d) }
            }
        }
        // CRLF line ends and a last line without a newline.
        bytes += Array("Nov 28 10:00:00 mx1 postfix/smtp[1]: ABCDEF1234: to=<a@b.example>, relay=none, dsn=4.4.1, status=deferred (connect to b.example[192.0.2.1]:25: Connection refused)\r\n".utf8)
        bytes += Array("Nov 28 10:00:01 mx1 postfix/smtp[1]: ABCDEF1235: to=<c@b.example>, relay=none, dsn=4.4.1, status=deferred (connect to b.example[192.0.2.1]:25: Connection refused)".utf8)
        return bytes
    }

    static func run(_ bytes: [UInt8], chunks: [Int]) -> [String] {
        var h = PipelineHarness()
        var i = 0
        var k = 0
        while i < bytes.count {
            let n = max(1, min(chunks[k % chunks.count], bytes.count - i))
            h.feed(Array(bytes[i..<(i + n)]))
            i += n
            k += 1
        }
        h.finish()
        return h.events.map(\.jsonLine)
    }

    @Test func sameEventsInEveryChunking() throws {
        let bytes = try Self.sample()
        let whole = Self.run(bytes, chunks: [bytes.count])
        #expect(whole.count > 20)
        #expect(Self.run(bytes, chunks: [1]) == whole, "byte by byte")
        var rng = SeededRandom.fromEnvironment()
        for _ in 0..<20 {
            let sizes = (0..<50).map { _ in Int.random(in: 1...300, using: &rng) }
            let got = Self.run(bytes, chunks: sizes)
            #expect(got == whole, "chunk sizes \(sizes.prefix(10))...")
        }
    }

    @Test func oversizedLinesAreSkippedWholeInAnyChunking() {
        let long = [UInt8](repeating: 65, count: 5000)
        let good = Array("Nov 28 10:00:00 mx1 postfix/smtp[1]: ABCDEF1234: to=<a@b.example>, relay=none, dsn=4.4.1, status=deferred (connect to b.example[192.0.2.1]:25: Connection refused)\n".utf8)
        let bytes = good + long + [10] + good + long
        for size in [1, 7, 100, 4999, 5001, bytes.count] {
            var h = PipelineHarness(maxLineLength: 1000)
            var i = 0
            while i < bytes.count {
                let n = min(size, bytes.count - i)
                h.feed(Array(bytes[i..<(i + n)]))
                i += n
            }
            h.finish()
            #expect(h.events.count == 2, "chunk \(size)")
            #expect(h.splitter.oversizedLines == 2, "chunk \(size)")
        }
    }
}
