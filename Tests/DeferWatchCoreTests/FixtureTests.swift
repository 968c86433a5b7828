import DeferWatchCore
import DeferWatchTestSupport
import Foundation
import Testing

/// The annotated fixture files in Fixtures/: each line gives exactly the event its
/// `# expect:` line describes, or no event at all; every built-in rule is hit.
@Suite struct FixtureTests {
    static let dir = TestPaths.packageRoot.appendingPathComponent("Tests/DeferWatchCoreTests/Fixtures")

    /// Runs every fixture case; returns the failures as readable strings and the rules hit.
    static func runAll() throws -> (failures: [String], rulesHit: Set<String>, cases: Int) {
        let rules = RuleSet.builtin()
        var harness = PipelineHarness(rules: rules)
        var failures: [String] = []
        var hit: Set<String> = []
        var count = 0
        for file in try FixtureFile.all(in: dir) {
            for c in file.cases {
                count += 1
                // Each line's year and zone stand alone; the classifier's memory carries on,
                // so inheritance can be written as consecutive lines.
                harness.pipeline.header = LineHeaderParser(yearHint: 2026, monthHint: 12, zone: FixedOffsetZone(), defaultHost: "mx1")
                let events = harness.events(ofLine: c.line)
                let place = "\(c.file):\(c.lineNumber)"
                guard let expect = c.expect else {
                    if !events.isEmpty { failures.append("\(place): expected no event, got \(events[0].jsonLine)") }
                    continue
                }
                guard events.count == 1, let e = events.first else {
                    failures.append("\(place): expected one event, got \(events.count)\n    \(c.line)")
                    continue
                }
                if let r = e.rule { hit.insert(r) }
                let actual = try JSONSerialization.jsonObject(with: Data(e.jsonLine.utf8)) as! [String: Any]
                for (k, v) in expect.sorted(by: { $0.key < $1.key }) {
                    guard actual.keys.contains(k) else {
                        failures.append("\(place): unknown field \"\(k)\" in expect")
                        continue
                    }
                    let a = actual[k]!
                    if !jsonEqual(a, v) {
                        failures.append("\(place): \(k) expected \(describe(v)), got \(describe(a))\n    \(e.jsonLine)")
                    }
                }
            }
        }
        return (failures, hit, count)
    }

    static func jsonEqual(_ a: Any, _ b: Any) -> Bool {
        if a is NSNull || b is NSNull { return a is NSNull && b is NSNull }
        if let x = a as? NSNumber, let y = b as? NSNumber { return x == y }
        if let x = a as? String, let y = b as? String { return x == y }
        return false
    }

    static func describe(_ v: Any) -> String {
        if v is NSNull { return "null" }
        if let s = v as? String { return "\"\(s)\"" }
        return "\(v)"
    }

    @Test func everyFixtureLineGivesItsExpectedEvent() throws {
        let (failures, _, count) = try Self.runAll()
        #expect(count > 50, "fixture files hold \(count) cases")
        #expect(failures.isEmpty, "\(failures.count) fixture failures:\n\(failures.joined(separator: "\n"))")
    }

    @Test func everyBuiltInRuleIsHitByAFixture() throws {
        let (_, hit, _) = try Self.runAll()
        let missing = RuleSet.builtin().rules.map(\.id).filter { !hit.contains($0) }
        #expect(missing.isEmpty, "rules no fixture hits: \(missing.joined(separator: ", "))")
    }
}
