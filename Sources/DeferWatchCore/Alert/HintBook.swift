import TOMLKit

/// The operator hints attached to alerts (Config/hints.toml, compiled in; a user file can
/// override a hint by giving the same cause, MTA and provider).
public struct HintBook: Sendable {
    public struct Hint: Sendable, Equatable {
        public var cause: Cause
        /// nil: any MTA.
        public var mta: MTA?
        public var provider: String?
        public var text: String
    }

    public private(set) var hints: [Hint]
    private var postmaster: [String: String]
    /// Each provider's recipient domains: those a configuration fix for the provider routes.
    private var providerDomains: [String: [String]]

    public init(hints: [Hint], providers: [Provider]) {
        self.hints = hints
        postmaster = [:]
        providerDomains = [:]
        for p in providers where !p.postmaster.isEmpty { postmaster[p.name] = p.postmaster }
        for p in providers where !p.domains.isEmpty { providerDomains[p.name] = p.domains }
    }

    /// The configuration fix for an open alert at log time `now` (`window`: the tracker's
    /// window, which its counts at the opening cover); nil when its cause has none.
    public func fix(for a: Alert, window: Int64, now: Int64) -> ConfigFix? {
        ConfigFix.derive(for: a, observed: ConfigFix.Observed(alert: a, window: window, now: now),
                         providerDomains: a.provider.flatMap { providerDomains[$0] } ?? [])
    }

    public static var builtinText: String { String(decoding: PackageResources.hints_toml, as: UTF8.self) }

    public static func builtin(providers: [Provider]) -> HintBook {
        do {
            return try load(files: [], providers: providers)
        } catch {
            fatalError("the built-in hints do not load: \(error)")
        }
    }

    /// The most specific hint for the alert: for its provider and MTA, for its provider, for
    /// its MTA, for any MTA (in that order); then the provider's page for senders.
    public func hint(cause: Cause, mta: MTA?, provider: String?) -> String {
        var best: Hint?
        var bestScore = -1
        for h in hints where h.cause == cause {
            if let p = h.provider, p != provider { continue }
            if let m = h.mta, m != mta { continue }
            let score = (h.provider != nil ? 2 : 0) + (h.mta != nil ? 1 : 0)
            if score > bestScore { best = h; bestScore = score }
        }
        var text = best?.text ?? cause.summary
        if let provider, let url = postmaster[provider] {
            if !text.hasSuffix(".") { text += "." }
            text += " See \(url)."
        }
        return text
    }

    public static func load(files: [(name: String, text: String)], providers: [Provider]) throws(ConfigErrors) -> HintBook {
        var problems: [ConfigProblem] = []
        var hints = parse(name: "hints.toml (built-in)", text: builtinText, providers: providers, problems: &problems)
        for f in files {
            for h in parse(name: f.name, text: f.text, providers: providers, problems: &problems) {
                if let i = hints.firstIndex(where: { $0.cause == h.cause && $0.mta == h.mta && $0.provider == h.provider }) {
                    hints[i] = h
                } else {
                    hints.append(h)
                }
            }
        }
        if !problems.isEmpty { throw ConfigErrors(problems) }
        return HintBook(hints: hints, providers: providers)
    }

    private static func parse(name: String, text: String, providers: [Provider], problems: inout [ConfigProblem]) -> [Hint] {
        let source: TOMLSource
        do {
            source = try TOMLSource(name: name, text: text)
        } catch {
            problems.append(contentsOf: error.problems)
            return []
        }
        var top = TOMLReader(source: source, table: source.table) { source.line(ofSection: nil, key: $0) }
        if let v = top.int("version"), v != 1 { top.problem("version", "unsupported hints version \(v)") }
        let tables = top.tables("hint")
        top.rejectUnknownKeys(context: "the hints file")
        problems.append(contentsOf: top.problems)
        let names = Set(providers.map(\.name))
        var out: [Hint] = []
        for (i, t) in tables.enumerated() {
            var r = TOMLReader(source: source, table: t) { source.line(ofArray: "hint", index: i, key: $0) }
            let causeName = r.string("cause") ?? ""
            let cause = Cause(rawValue: causeName)
            if cause == nil { r.problem("cause", "unknown cause \"\(causeName)\"") }
            let mtaName = r.string("mta") ?? "any"
            var mta: MTA?
            if mtaName != "any" {
                mta = MTA(rawValue: mtaName)
                if mta == nil { r.problem("mta", "mta must be postfix, exim or any, not \"\(mtaName)\"") }
            }
            let provider = r.string("provider")
            if let provider, !names.contains(provider) { r.problem("provider", "unknown provider \"\(provider)\"") }
            let text = r.string("text") ?? ""
            if text.isEmpty { r.problem("text", "hint without text") }
            if text.contains("\n") { r.problem("text", "a hint is one line") }
            r.rejectUnknownKeys(context: "[[hint]]")
            problems.append(contentsOf: r.problems)
            if let cause { out.append(Hint(cause: cause, mta: mta, provider: provider, text: text)) }
        }
        return out
    }
}
