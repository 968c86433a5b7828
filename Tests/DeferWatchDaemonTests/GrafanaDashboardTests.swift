import DeferWatchDaemon
import DeferWatchTestSupport
import Foundation
import Testing

/// The shipped Grafana dashboard (Config/grafana-dashboard.json, installed as
/// /usr/share/deferwatch/grafana-dashboard.json): a JSON model Grafana imports, every query
/// on the data source variable, and every metric it names served by a real daemon's /metrics.
@Suite(.serialized) struct GrafanaDashboardTests {
    /// The schema version the README states (Grafana 10.x and 11.x).
    static let schemaVersion = 39

    /// Series Prometheus adds to every target it scrapes: not on /metrics, but on every
    /// Prometheus that scrapes deferwatch. Any other name a query uses must be served.
    static let scrapeSeries: Set<String> = ["up"]

    static func load() throws -> [String: Any] {
        let url = TestPaths.packageRoot.appendingPathComponent("Config/grafana-dashboard.json")
        let data = try Data(contentsOf: url)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "not a JSON object")
    }

    /// Every panel, those inside collapsed rows included.
    static func panels(_ dash: [String: Any]) -> [[String: Any]] {
        let top = dash["panels"] as? [[String: Any]] ?? []
        return top + top.flatMap { $0["panels"] as? [[String: Any]] ?? [] }
    }

    /// Every PromQL query: the targets' `expr` and the query variables' queries.
    static func queries(_ dash: [String: Any]) -> [String] {
        let targets = panels(dash).flatMap { $0["targets"] as? [[String: Any]] ?? [] }.compactMap { $0["expr"] as? String }
        return targets + variables(dash).compactMap(variableQuery)
    }

    static func variables(_ dash: [String: Any]) -> [[String: Any]] {
        (dash["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
    }

    /// A query variable's query: a string, or the Prometheus editor's `{"query": ...}`.
    static func variableQuery(_ v: [String: Any]) -> String? {
        guard v["type"] as? String == "query" else { return nil }
        return v["query"] as? String ?? (v["query"] as? [String: Any])?["query"] as? String
    }

    /// The metric names of a PromQL expression (or of a `label_values(metric{...}, label)`):
    /// strings, label matchers, ranges, Grafana variables and the label lists of by, without,
    /// on, ignoring and group_left/right removed, the identifiers left that are not called
    /// (functions, aggregations) nor keywords nor numbers.
    static func metricNames(_ expr: String) -> Set<String> {
        var e = expr
        if let m = e.firstMatch(of: /^\s*label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)/) { return [String(m.1)] }
        e.replace(/"(\\.|[^"\\])*"|'(\\.|[^'\\])*'|`[^`]*`/, with: "\"\"")
        e.replace(/\{[^}]*\}/, with: " ")
        e.replace(/\[[^\]]*\]/, with: " ")
        e.replace(/\$\{[^}]*\}|\$[A-Za-z0-9_]+/, with: " ")
        e.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/, with: " ")
        let keywords: Set<String> = ["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
                                     "group_left", "group_right", "inf", "nan", "atan2"]
        var names: Set<String> = []
        for m in e.matches(of: /[A-Za-z0-9_:.]+(\s*\()?/) {
            let token = String(m.0).trimmingCharacters(in: .whitespaces)
            if token.hasSuffix("(") { continue }
            guard let first = token.unicodeScalars.first, first == "_" || first == ":" || CharacterSet.letters.contains(first) else { continue }
            if keywords.contains(token.lowercased()) { continue }
            names.insert(token)
        }
        return names
    }

    /// The names /metrics serves: each sample's name, and each `# TYPE` family with its type.
    static func served(_ body: String) -> (series: Set<String>, families: [String: String]) {
        var series: Set<String> = []
        var families: [String: String] = [:]
        for line in body.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let f = line.split(separator: " ")
                if f.count >= 4 { families[String(f[2])] = String(f[3]) }
            } else if !line.hasPrefix("#") {
                series.insert(String(line.prefix { $0 != "{" && $0 != " " }))
            }
        }
        return (series, families)
    }

    static func isServed(_ name: String, series: Set<String>, families: [String: String]) -> Bool {
        if series.contains(name) || families[name] != nil { return true }
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if families[base] == "histogram" || (suffix != "_bucket" && families[base] == "summary") { return true }
        }
        return false
    }

    /// The model Grafana imports: schema version, uid and title, panels with a type, title,
    /// place and unique id, every query a target with `expr` and `refId` on `${datasource}`.
    @Test func isAGrafanaJSONModelOnTheDataSourceVariable() throws {
        let dash = try Self.load()
        #expect(dash["schemaVersion"] as? Int == Self.schemaVersion, "schemaVersion: \(String(describing: dash["schemaVersion"]))")
        #expect(dash["uid"] as? String == "deferwatch")
        #expect(dash["title"] as? String == "deferwatch")

        let vars = Self.variables(dash)
        let ds = vars.first { $0["name"] as? String == "datasource" }
        #expect(ds?["type"] as? String == "datasource" && ds?["query"] as? String == "prometheus", "\(String(describing: ds))")
        let host = vars.first { ["instance", "host"].contains($0["name"] as? String) }
        #expect(host.flatMap(Self.variableQuery)?.hasPrefix("label_values(deferwatch_") == true, "\(String(describing: host))")
        for v in vars where v["type"] as? String == "query" {
            #expect((v["datasource"] as? [String: Any])?["uid"] as? String == "${datasource}", "variable \(v["name"] ?? "?")")
        }

        let panels = Self.panels(dash)
        try #require(!panels.isEmpty, "no panels")
        var ids: Set<Int> = []
        var types: Set<String> = []
        var targetCount = 0
        for p in panels {
            let title = p["title"] as? String ?? ""
            let type = try #require(p["type"] as? String, "a panel without a type: \(title)")
            types.insert(type)
            #expect(!title.isEmpty, "a \(type) panel without a title")
            let grid = p["gridPos"] as? [String: Any]
            #expect(["h", "w", "x", "y"].allSatisfy { grid?[$0] is Int }, "\(title): gridPos \(String(describing: grid))")
            if let x = grid?["x"] as? Int, let w = grid?["w"] as? Int { #expect(x >= 0 && w > 0 && x + w <= 24, "\(title): wider than the grid") }
            let id = try #require(p["id"] as? Int, "\(title): no id")
            #expect(ids.insert(id).inserted, "\(title): panel id \(id) used twice")
            if type == "row" { continue }
            #expect((p["datasource"] as? [String: Any])?["uid"] as? String == "${datasource}", "\(title): panel datasource")
            let targets = p["targets"] as? [[String: Any]] ?? []
            #expect(!targets.isEmpty, "\(title): no query")
            var refIds: Set<String> = []
            for t in targets {
                targetCount += 1
                let expr = t["expr"] as? String ?? ""
                #expect(!expr.isEmpty, "\(title): a target without expr")
                let ref = t["refId"] as? String ?? ""
                #expect(!ref.isEmpty && refIds.insert(ref).inserted, "\(title): refId '\(ref)' missing or used twice")
                #expect((t["datasource"] as? [String: Any])?["uid"] as? String == "${datasource}", "\(title) \(ref): target datasource")
            }
        }
        #expect(types.isSuperset(of: ["timeseries", "stat", "table"]), "\(types)")
        #expect(targetCount >= 20)
    }

    /// The extraction the next test relies on finds the names in a query, and only those.
    /// Every target's query is PromQL Prometheus accepts: promtool checks them as recording
    /// rules, with Grafana's variables put in as a Prometheus would see them once Grafana has
    /// interpolated them (a range for $__rate_interval, a value in a matcher).
    @Test(.enabled(if: PrometheusTests.promtool != nil || ProcessInfo.processInfo.environment["CI"] != nil, "promtool is not there"))
    func everyQueryIsPromQLThatPromtoolAccepts() throws {
        let tool = try #require(PrometheusTests.promtool, "promtool is needed in CI (scripts/test unpacks it)")
        let targets = Self.panels(try Self.load()).flatMap { $0["targets"] as? [[String: Any]] ?? [] }.compactMap { $0["expr"] as? String }
        #expect(!targets.isEmpty)
        var rules: [[String: String]] = []
        for (i, expr) in targets.enumerated() {
            var e = expr
            for (v, value) in [("$__rate_interval", "5m"), ("$__interval", "1m"), ("$__range", "1h")] { e = e.replacingOccurrences(of: v, with: value) }
            e = e.replacingOccurrences(of: #"\$\{?[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}?"#, with: "x", options: .regularExpression)
            rules.append(["record": "dashboard:query\(i)", "expr": e])
        }
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("dashboard-rules.json")
        // promtool reads YAML, of which JSON is a part.
        try JSONSerialization.data(withJSONObject: ["groups": [["name": "dashboard", "rules": rules]]]).write(to: file)
        let r = try ProcessRunner.run(URL(fileURLWithPath: tool), ["check", "rules", file.path])
        #expect(r.status == 0, "\(r.stdoutText)\(r.stderr)")
        #expect(r.stdoutText.contains("\(targets.count) rules found"), "\(r.stdoutText)")
    }

    @Test func metricNamesOfAQuery() {
        #expect(Self.metricNames(#"sum by (instance, cause) (rate(deferwatch_deferrals_total{job=~"$job", cause!="x"}[$__rate_interval])) * 60 > 1e3"#)
                == ["deferwatch_deferrals_total"])
        #expect(Self.metricNames(#"count(up{instance=~"$instance"} == 0) or vector(0) unless on (instance) deferwatch_state_error offset 5m"#)
                == ["up", "deferwatch_state_error"])
        #expect(Self.metricNames(#"histogram_quantile(0.9, sum by (le) (rate(deferwatch_x_seconds_bucket[5m])))"#) == ["deferwatch_x_seconds_bucket"])
        #expect(Self.metricNames(#"label_values(deferwatch_build_info{job=~"$job"}, instance)"#) == ["deferwatch_build_info"])
        #expect(Self.isServed("a_bucket", series: [], families: ["a": "histogram"]))
        #expect(!Self.isServed("a_bucket", series: [], families: ["a": "counter"]))
    }

    /// Every metric a query of the dashboard names is served by a running daemon that has
    /// read Postfix deferrals (so alerts and the deferred queue have series), as a sample or
    /// a `# TYPE` family; `_bucket`, `_sum` and `_count` as their histogram's family.
    @Test func everyQueryNamesAMetricThatMetricsServes() throws {
        let dash = try Self.load()
        let queries = Self.queries(dash)
        var names: Set<String> = []
        for q in queries {
            let found = Self.metricNames(q)
            #expect(!found.isEmpty, "no metric found in \(q)")
            // Whatever the extraction does, every deferwatch_ name in the text is checked.
            let literal = Set(q.matches(of: /deferwatch_[a-z0-9_]+/).map { String($0.0) })
            #expect(literal.isSubset(of: found), "\(q): the extraction missed \(literal.subtracting(found))")
            names.formUnion(found)
            names.formUnion(literal)
        }
        #expect(names.contains("deferwatch_open_alerts") && names.contains("deferwatch_queue_messages"), "\(names.sorted())")
        let foreign = names.filter { !$0.hasPrefix("deferwatch_") }
        #expect(foreign.isSubset(of: Self.scrapeSeries), "not deferwatch's, not Prometheus's own: \(foreign.subtracting(Self.scrapeSeries).sorted())")

        // A real daemon, DNS checks off (no network beyond loopback), after deferrals and deliveries.
        let (s, p) = try StatusSocketTests.startWithKnownLog(extra: "[checks]\nenabled = false")
        defer { ProcessRunner.stop(p) }
        var body = ""
        let ready = eventually {
            guard let r = try? StatusClient.get(socket: StatusSocketTests.socketPath(s), target: "/metrics"), r.status == 200 else { return false }
            body = String(decoding: r.body, as: UTF8.self)
            return body.contains("deferwatch_open_alerts{cause=\"rate_limit\",severity=\"warning\"} 1\n")
                && body.contains("deferwatch_queue_messages 40\n")
        }
        #expect(ready, "no alert or deferred queue on /metrics:\n\(body)")

        let (series, families) = Self.served(body)
        #expect(families.count >= 20, "\(body)")
        for name in names.sorted() where !Self.scrapeSeries.contains(name) {
            #expect(Self.isServed(name, series: series, families: families),
                    "the dashboard queries \(name), which /metrics does not serve (queries: \(queries.filter { $0.contains(name) }))")
        }
    }
}
