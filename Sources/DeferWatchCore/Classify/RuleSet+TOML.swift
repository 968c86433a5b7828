import TOMLKit

extension RuleSet {
    /// The rules file compiled into the binary (Config/rules.toml).
    public static var builtinRulesText: String {
        String(decoding: PackageResources.rules_toml, as: UTF8.self)
    }

    /// The built-in rules alone.
    public static func builtin() -> RuleSet {
        do {
            return try load(files: [])
        } catch {
            fatalError("the built-in rules do not load: \(error)")
        }
    }

    /// Loads the built-in rules, then each user file in order. A user rule with the id of an
    /// existing rule replaces it in place (`enabled = false` removes it); a new rule is tried
    /// before the built-in rules of its layer. A user provider with an existing name replaces it.
    public static func load(files: [(name: String, text: String)]) throws(ConfigErrors) -> RuleSet {
        if files.isEmpty { return try builtinSet.get() }
        return try compile(files: files)
    }

    /// The built-in rules compiled once per process: every configuration without rule
    /// files, every reload of one, and every test takes the same immutable value.
    private static let builtinSet: Result<RuleSet, ConfigErrors> = {
        do throws(ConfigErrors) { return .success(try compile(files: [])) } catch { return .failure(error) }
    }()

    private static func compile(files: [(name: String, text: String)]) throws(ConfigErrors) -> RuleSet {
        var problems: [ConfigProblem] = []
        var (rules, providers) = parse(name: "rules.toml (built-in)", text: builtinRulesText, problems: &problems)
        var userRules: [Rule] = []
        for f in files {
            let (r, p) = parse(name: f.name, text: f.text, problems: &problems)
            for provider in p {
                if let i = providers.firstIndex(where: { $0.name == provider.name }) { providers[i] = provider }
                else { providers.append(provider) }
            }
            for rule in r {
                if let i = rules.firstIndex(where: { $0.rule.id == rule.rule.id }) {
                    if rule.enabled { rules[i] = rule } else { rules.remove(at: i) }
                } else if let i = userRules.firstIndex(where: { $0.id == rule.rule.id }) {
                    userRules[i] = rule.rule
                } else if rule.enabled {
                    userRules.append(rule.rule)
                }
            }
        }
        // Layer by layer; within a layer the user's new rules first, then the built-in ones,
        // each in its file's order (a stable sort).
        let all = (userRules + rules.map(\.rule)).enumerated().sorted { a, b in
            a.element.layer != b.element.layer ? a.element.layer < b.element.layer : a.offset < b.offset
        }.map(\.element)
        let names = Set(providers.map(\.name))
        for r in all {
            if let p = r.provider, !names.contains(p) {
                problems.append(ConfigProblem(file: r.origin, line: nil, message: "rule \"\(r.id)\" names unknown provider \"\(p)\""))
            }
        }
        if !problems.isEmpty { throw ConfigErrors(problems) }
        return RuleSet(rules: all, providers: providers)
    }

    private struct ParsedRule {
        var rule: Rule
        var enabled: Bool
    }

    private static func parse(name: String, text: String, problems: inout [ConfigProblem]) -> ([ParsedRule], [Provider]) {
        let source: TOMLSource
        do {
            source = try TOMLSource(name: name, text: text)
        } catch {
            problems.append(contentsOf: error.problems)
            return ([], [])
        }
        var top = TOMLReader(source: source, table: source.table) { source.line(ofSection: nil, key: $0) }
        if let v = top.int("version"), v != 1 { top.problem("version", "unsupported rules version \(v) (this deferwatch reads version 1)") }
        let ruleTables = top.tables("rule")
        let providerTables = top.tables("provider")
        top.rejectUnknownKeys(context: "the rules file")
        problems.append(contentsOf: top.problems)

        var providers: [Provider] = []
        for (i, t) in providerTables.enumerated() {
            var r = TOMLReader(source: source, table: t) { source.line(ofArray: "provider", index: i, key: $0) }
            let pname = r.string("name") ?? ""
            if pname.isEmpty { r.problem("name", "provider without a name") }
            let p = Provider(name: pname, title: r.string("title") ?? pname, postmaster: r.string("postmaster") ?? "",
                             relays: r.strings("relays") ?? [], domains: r.strings("domains") ?? [])
            r.rejectUnknownKeys(context: "[[provider]]")
            problems.append(contentsOf: r.problems)
            providers.append(p)
        }

        var rules: [ParsedRule] = []
        var ids: Set<String> = []
        for (i, t) in ruleTables.enumerated() {
            var r = TOMLReader(source: source, table: t) { source.line(ofArray: "rule", index: i, key: $0) }
            let line = source.line(ofArray: "rule", index: i)
            let id = r.string("id") ?? ""
            if id.isEmpty || !id.utf8.allSatisfy({ ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }) {
                r.problem("id", "rule id \"\(id)\" must be non-empty lower-case letters, digits, '-', '_' or '.'")
            }
            if ids.contains(id) { r.problem("id", "duplicate rule id \"\(id)\"") }
            ids.insert(id)
            let enabled = r.bool("enabled") ?? true
            let causeName = r.string("cause")
            var cause = Cause.other
            if let causeName {
                if let c = Cause(rawValue: causeName) { cause = c }
                else { r.problem("cause", "unknown cause \"\(causeName)\" (one of: \(Cause.allCases.map(\.rawValue).joined(separator: ", ")))") }
            } else if enabled {
                r.problem(nil, "rule \"\(id)\" has no cause")
            }
            var layer: RuleLayer?
            if let l = r.string("layer") {
                if let v = RuleLayer(rawValue: l) { layer = v }
                else { r.problem("layer", "unknown layer \"\(l)\" (one of: \(RuleLayer.allCases.map(\.rawValue).joined(separator: ", ")))") }
            }
            let codes = r.ints("codes") ?? []
            for c in codes where c < 200 || c > 599 { r.problem("codes", "reply code \(c) is not between 200 and 599") }
            let dsn = r.strings("dsn") ?? []
            for d in dsn where !validDSN(d) { r.problem("dsn", "\"\(d)\" is not an enhanced status code (x.y.z, or a class like 4.4.*)") }
            let contains = r.strings("contains") ?? []
            let containsAny = r.strings("contains_any") ?? []
            let words = r.strings("words") ?? []
            let wordsAny = r.strings("words_any") ?? []
            for n in contains + containsAny + words + wordsAny where n.isEmpty { r.problem(nil, "rule \"\(id)\" has an empty needle") }
            let rule = Rule(id: id, cause: cause, layer: layer, provider: r.string("provider"), codes: codes, dsn: dsn,
                            contains: contains, containsAny: containsAny, words: words, wordsAny: wordsAny,
                            note: r.string("note") ?? "", origin: line.map { "\(name):\($0)" } ?? name, peerReplies: r.bool("peer_replies"))
            if enabled && codes.isEmpty && dsn.isEmpty && contains.isEmpty && containsAny.isEmpty && words.isEmpty && wordsAny.isEmpty {
                r.problem(nil, "rule \"\(id)\" has no matcher (codes, dsn, contains, contains_any, words or words_any)")
            }
            r.rejectUnknownKeys(context: "[[rule]] \"\(id)\"")
            problems.append(contentsOf: r.problems)
            rules.append(ParsedRule(rule: rule, enabled: enabled))
        }
        return (rules, providers)
    }

    private static func validDSN(_ d: String) -> Bool {
        let parts = d.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 2, parts.count <= 3, ["2", "4", "5"].contains(parts[0]) else { return false }
        for (i, p) in parts.enumerated().dropFirst() {
            if p == "*" && i == parts.count - 1 { continue }
            guard !p.isEmpty, p.count <= 3, p.allSatisfy(\.isNumber) else { return false }
        }
        return parts.count == 3 || parts.last == "*"
    }
}
