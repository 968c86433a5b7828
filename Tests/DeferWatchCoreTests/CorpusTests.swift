import DeferWatchCore
import DeferWatchTestSupport
import Foundation
import Testing

/// The shared corpus of real Postfix and Exim lines (../shared/corpus), read in place.
/// Skipped, visibly, when the corpus is not there.
@Suite(.enabled(if: TestPaths.corpus != nil, "../shared/corpus is not present"))
struct CorpusTests {
    /// The largest shares of corpus deferrals that may end as `other`, documented in the
    /// README; lower them as the rules improve. Most `other` deferrals are Exim's own queueing
    /// defers (queue_smtp_domains, forced defers: rules explain them, but they are not a
    /// receiver's doing); most that no rule explains are the artificial texts of Exim's test
    /// suite ("deliberate for test purposes"). Real logs are held to a much tighter bound.
    static let maxOtherShare = 0.50
    static let maxUnexplainedShare = 0.16
    static let maxUnexplainedShareOutsideEximTestSuite = 0.01

    struct FileResult {
        var name: String
        var lines: Int
        var expected: Int
        var deferrals: Int
        var other: Int
        var unexplained: Int
        var causes: [Cause: Int]
    }

    /// Every corpus file, with message-only lines given a syslog header from their component.
    static func files() throws -> [(name: String, bytes: [UInt8])] {
        let root = TestPaths.corpus!
        var out: [(String, [UInt8])] = []
        for mta in ["postfix", "exim"] {
            let dir = root.appendingPathComponent(mta)
            for name in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() where name.hasSuffix(".log") {
                out.append(("\(mta)/\(name)", Array(try Data(contentsOf: dir.appendingPathComponent(name)))))
            }
        }
        let mo = root.appendingPathComponent("postfix/message-only")
        if let log = try? String(contentsOf: mo.appendingPathComponent("whyscream-postfix-grok-patterns.log"), encoding: .utf8),
           let tsv = try? String(contentsOf: mo.appendingPathComponent("whyscream-postfix-grok-patterns.components.tsv"), encoding: .utf8) {
            var component: [Int: String] = [:]
            for row in tsv.split(separator: "\n").dropFirst() {
                let f = row.split(separator: "\t")
                if f.count >= 2, let n = Int(f[0]) { component[n] = String(f[1]) }
            }
            var text = ""
            for (i, line) in log.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
                text += "Nov 28 10:00:00 mx1 postfix/\(component[i + 1] ?? "smtp")[1]: \(line)\n"
            }
            out.append(("postfix/message-only/whyscream-postfix-grok-patterns.log", Array(text.utf8)))
        }
        return out
    }

    /// The deferral lines of a file counted without deferwatch's parser: Postfix lines with
    /// `status=deferred`, Exim lines whose flag field is `==`.
    static func independentCount(_ bytes: [UInt8], exim: Bool) -> Int {
        let text = String(decoding: bytes, as: UTF8.self)
        let re = try! NSRegularExpression(pattern: exim
            ? #"(^|\s)[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4} == "#
            : #"status=deferred"#)
        var n = 0
        for line in text.split(separator: "\n") {
            let s = String(line)
            if re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil { n += 1 }
        }
        return n
    }

    static func analyse() throws -> [FileResult] {
        try files().map { name, bytes in
            let events = PipelineHarness.run(bytes)
            let deferred = events.filter { $0.status == .deferred }
            var causes: [Cause: Int] = [:]
            for e in deferred { causes[e.cause ?? .other, default: 0] += 1 }
            return FileResult(
                name: name,
                lines: bytes.reduce(0) { $0 + ($1 == 10 ? 1 : 0) },
                expected: independentCount(bytes, exim: name.hasPrefix("exim/")),
                deferrals: deferred.count,
                other: deferred.filter { $0.cause == .other }.count,
                unexplained: deferred.filter { $0.cause == .other && $0.rule == nil && !$0.inherited }.count,
                causes: causes)
        }
    }

    @Test func everyLineParsesAndDeferralsMatchAnIndependentCount() throws {
        let results = try Self.analyse()
        var table = "file                                                   lines  deferrals (independent)  other  unexplained\n"
        for r in results {
            table += "\(r.name.padding(toLength: 54, withPad: " ", startingAt: 0)) \(String(r.lines).leftPad(6)) \(String(r.deferrals).leftPad(10)) \(String(r.expected).leftPad(13)) \(String(r.other).leftPad(12)) \(String(r.unexplained).leftPad(12))\n"
            #expect(r.deferrals == r.expected, "\(r.name): \(r.deferrals) deferrals found, \(r.expected) by independent count")
        }
        print(table)
    }

    @Test func shareOfCorpusDeferralsClassifiedOtherStaysBounded() throws {
        let results = try Self.analyse()
        let total = results.reduce(0) { $0 + $1.deferrals }
        let other = results.reduce(0) { $0 + $1.other }
        let unexplained = results.reduce(0) { $0 + $1.unexplained }
        var causes: [Cause: Int] = [:]
        for r in results { for (c, n) in r.causes { causes[c, default: 0] += n } }
        let real = results.filter { !$0.name.contains("exim-testsuite") }
        let realTotal = real.reduce(0) { $0 + $1.deferrals }
        let realUnexplained = real.reduce(0) { $0 + $1.unexplained }
        let realShare = Double(realUnexplained) / Double(max(1, realTotal))
        let otherShare = Double(other) / Double(max(1, total))
        let unexplainedShare = Double(unexplained) / Double(max(1, total))
        print("corpus deferrals: \(total); other: \(other) (\(String(format: "%.1f", otherShare * 100))%); unexplained: \(unexplained) (\(String(format: "%.1f", unexplainedShare * 100))%)")
        print("outside Exim's test suite: \(realTotal) deferrals, unexplained \(realUnexplained) (\(String(format: "%.2f", realShare * 100))%)")
        print("per cause: " + causes.sorted { $0.value > $1.value }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", "))
        #expect(total > 2000)
        #expect(otherShare <= Self.maxOtherShare, "share of corpus deferrals classified other: \(otherShare)")
        #expect(unexplainedShare <= Self.maxUnexplainedShare, "share no rule explained: \(unexplainedShare)")
        #expect(realShare <= Self.maxUnexplainedShareOutsideEximTestSuite, "share no rule explained outside the test suite: \(realShare)")
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
