/// The compiled rules and provider table. Immutable and shareable; classification of one
/// text is one pass of the needle automaton plus a walk over the rules in order. `rules` is
/// in the order of the file within each layer: `load` puts the user's new rules first, then
/// the built-in rules layer by layer (`RuleLayer`), each layer in the file's order. An
/// event is weighed against them layer by layer, and within a layer the rules that name its
/// provider come before the rules for any provider, so a generic rule earlier in the file
/// never shadows the provider's own.
///
/// Enhanced status codes are compared without their class digit: a rule for `4.7.26`
/// also decides `5.7.26`, so bounces get causes from the same rules as deferrals.
public struct RuleSet: Sendable {
    public let rules: [Rule]
    public let providers: [Provider]

    private struct Compiled: Sendable {
        var cause: Cause
        var provider: Int32   // -1: any
        var codes: [Int]
        /// Exact enhanced codes without their class digit, as `subject * 1000 + detail`.
        var dsnExact: [Int32]
        /// `4.4.*`: a subject, whatever the class.
        var dsnSubjects: [Int32]
        /// `4.*`: a whole class, compared with its class digit.
        var dsnClasses: [Int32]
        var hasDSN: Bool { !dsnExact.isEmpty || !dsnSubjects.isEmpty || !dsnClasses.isEmpty }
        var all: [Int32]
        var any: [Int32]
        /// False: the rule does not decide a text that carries a peer's reply code.
        var peerReplies: Bool
    }

    private let compiled: [Compiled]
    /// The order of evaluation for an event of each provider (index provider + 1; 0: none):
    /// layer by layer, and within a layer the rules of that provider before the rules of
    /// any provider, each in the file's order. Rules of other providers are left out.
    private let orders: [[Int32]]
    private let matcher: NeedleMatcher
    /// The needles of all rules, lower-cased, by id.
    private let needles: [String]
    private let providerIndex: [String: Int]
    private let relaySuffixes: [String: Int]
    private let domains: [String: Int]

    public init(rules: [Rule], providers: [Provider]) {
        self.rules = rules
        self.providers = providers
        var providerIndex: [String: Int] = [:]
        var relaySuffixes: [String: Int] = [:]
        var domains: [String: Int] = [:]
        for (i, p) in providers.enumerated() {
            providerIndex[p.name] = i
            for r in p.relays {
                let s = r.asciiLowercased
                relaySuffixes[s.hasPrefix(".") ? String(s.dropFirst()) : s] = i
            }
            for d in p.domains { domains[d.asciiLowercased] = i }
        }
        self.providerIndex = providerIndex
        self.relaySuffixes = relaySuffixes
        self.domains = domains

        // Needles by (lower-cased text, word edges): a word "tls" and a substring "tls" are two.
        var needleIDs: [String: Int32] = [:]
        var needles: [String] = []
        var labels: [String] = []
        var wordEdges: [UInt8] = []
        func id(_ s: String, edges: UInt8) -> Int32 {
            let k = s.asciiLowercased
            let key = "\(edges):\(k)"
            if let i = needleIDs[key] { return i }
            let i = Int32(needles.count)
            needles.append(k)
            wordEdges.append(edges)
            labels.append(edges == 0 ? k : "word \"\(edges & 2 == 0 ? k + "*" : edges & 1 == 0 ? "*" + k : k)\"")
            needleIDs[key] = i
            return i
        }
        func id(_ s: String) -> Int32 { id(s, edges: 0) }
        // "tls": a whole word; "tls*": a word that starts so ("TLSv1"); "*tls": one that ends so.
        func word(_ s: String) -> Int32 {
            var w = Substring(s)
            var edges: UInt8 = 3
            if w.hasSuffix("*") { w = w.dropLast(); edges &= ~2 }
            if w.hasPrefix("*") { w = w.dropFirst(); edges &= ~1 }
            return id(String(w), edges: edges)
        }
        compiled = rules.map { r in
            Compiled(
                cause: r.cause,
                provider: r.provider.map { Int32(providerIndex[$0] ?? -2) } ?? -1,
                codes: r.codes,
                dsnExact: r.dsn.compactMap { Self.enhanced($0).map { $0.subject * 1000 + $0.detail } },
                dsnSubjects: r.dsn.filter { $0.hasSuffix(".*") }.compactMap { d in
                    let p = d.split(separator: ".")
                    return p.count == 3 ? Int32(p[1]) : nil
                },
                dsnClasses: r.dsn.filter { $0.hasSuffix(".*") }.compactMap { d in
                    let p = d.split(separator: ".")
                    return p.count == 2 ? Int32(p[0]) : nil
                },
                all: r.contains.map(id) + r.words.map(word),
                any: r.containsAny.map(id) + r.wordsAny.map(word),
                peerReplies: r.peerReplies)
        }
        matcher = NeedleMatcher(needles: needles, wordEdges: wordEdges)
        self.needles = labels
        orders = Self.orders(rules: rules, compiled: compiled, providers: providers.count)
    }

    private static func orders(rules: [Rule], compiled: [Compiled], providers: Int) -> [[Int32]] {
        (-1..<providers).map { p in
            rules.indices.filter { compiled[$0].provider == -1 || compiled[$0].provider == Int32(p) && p >= 0 }
                .enumerated().sorted { a, b in
                    let (x, y) = (rules[a.element], rules[b.element])
                    if x.layer != y.layer { return x.layer < y.layer }
                    let (px, py) = (compiled[a.element].provider >= 0, compiled[b.element].provider >= 0)
                    if px != py { return px }
                    return a.offset < b.offset
                }
                .map { Int32($0.element) }
        }
    }

    /// The rules an event of `provider` is weighed against, in order.
    private func order(_ provider: Int?) -> Int {
        guard let provider, provider >= 0, provider + 1 < orders.count else { return 0 }
        return provider + 1
    }

    /// The provider of a destination: from the relay host (so a Google Workspace domain is
    /// Google), else from the recipient domain.
    public func providerIndex(relay: String?, domain: String?) -> Int? {
        if let relay, !relay.isEmpty {
            // The host, then each suffix after a dot (searched for in the UTF-8 bytes: a
            // search by Character costs a grapheme break per byte).
            var s = Substring(relay)
            while true {
                if let p = relaySuffixes[String(s)] { return p }
                guard let dot = s.utf8.firstIndex(of: UInt8(ascii: ".")) else { break }
                s = s[s.utf8.index(after: dot)...]
            }
        }
        if let domain, let p = domains[domain] { return p }
        return nil
    }

    public func providerIndex(named name: String) -> Int? { providerIndex[name] }

    /// Working memory for `classify`, one per thread of use.
    public struct Scratch {
        var found: [Bool] = []
        /// Relay host -> provider index (-1: none), so a busy relay is looked up once.
        var relays: [String: Int32] = [:]
        public init() {}
    }

    /// `providerIndex(relay:domain:)` with the relay's answer remembered in `scratch`.
    public func providerIndex(relay: String?, domain: String?, scratch: inout Scratch) -> Int? {
        if let relay, !relay.isEmpty {
            if let p = scratch.relays[relay] {
                if p >= 0 { return Int(p) }
            } else {
                if scratch.relays.count >= 8192 { scratch.relays.removeAll(keepingCapacity: true) }
                let p = providerIndex(relay: relay, domain: nil)
                scratch.relays[relay] = p.map(Int32.init) ?? -1
                if let p { return p }
            }
        }
        if let domain, let p = domains[domain] { return p }
        return nil
    }

    /// The cause of a failure text and the index of the deciding rule (nil: no rule, `other`).
    public func classify(_ text: Bytes, code: Int?, dsn: String?, provider: Int?, scratch: inout Scratch) -> (Cause, Int?) {
        scan(text, scratch: &scratch)
        let d = dsn.flatMap(Self.enhanced)
        let found = scratch.found
        return compiled.withUnsafeBufferPointer { rules in
            orders[order(provider)].withUnsafeBufferPointer { order in
                for i in order where Self.matches(rules.baseAddress! + Int(i), found, code: code, dsn: d, provider: provider) {
                    return (rules[Int(i)].cause, Int(i))
                }
                return (.other, nil)
            }
        }
    }

    /// Every rule that matches the text, in the order of evaluation (the first decides),
    /// with the needles of each that were found: the evidence `classify --explain` shows.
    public func evidence(_ text: Bytes, code: Int?, dsn: String?, provider: Int?) -> [(rule: Int, needles: [String])] {
        var scratch = Scratch()
        scan(text, scratch: &scratch)
        let d = dsn.flatMap(Self.enhanced)
        var out: [(rule: Int, needles: [String])] = []
        let all = compiled.withUnsafeBufferPointer { rules in
            orders[order(provider)].map(Int.init).filter { Self.matches(rules.baseAddress! + $0, scratch.found, code: code, dsn: d, provider: provider) }
        }
        for index in all {
            let ids = compiled[index].all + compiled[index].any
            out.append((index, ids.filter { scratch.found[Int($0)] }.map { needles[Int($0)] }))
        }
        return out
    }

    /// The needles of the text outside its stage markers (`StageMarkers`): each stretch
    /// between markers is scanned on its own, so no needle is found in a marker or across one.
    private func scan(_ text: Bytes, scratch: inout Scratch) {
        if scratch.found.count != matcher.needleCount {
            scratch.found = [Bool](repeating: false, count: matcher.needleCount)
        } else {
            for i in scratch.found.indices { scratch.found[i] = false }
        }
        let m = StageMarkers.find(in: text)
        if m.isEmpty {
            matcher.scan(text, into: &scratch.found)
            return
        }
        // Exim's marker stands before Postfix's when a text has both (no array: nothing allocated).
        var at = 0
        func skip(_ r: Range<Int>, _ found: inout [Bool]) {
            guard !r.isEmpty else { return }
            if r.lowerBound > at { matcher.scan(text.slice(at, r.lowerBound), into: &found) }
            at = max(at, r.upperBound)
        }
        skip(m.exim, &scratch.found)
        skip(m.postfix, &scratch.found)
        if at < text.count { matcher.scan(text.slice(at, text.count), into: &scratch.found) }
    }

    /// The stage markers of a text, which no needle is matched in (`classify --explain`).
    public func stageMarkers(_ text: Bytes) -> [Range<Int>] { StageMarkers.find(in: text).ranges }

    /// An enhanced status code `c.s.d` as numbers (nil: not one).
    static func enhanced(_ d: String) -> (cls: Int32, subject: Int32, detail: Int32)? {
        var parts: [Int32] = []
        var v: Int32 = 0
        var digits = 0
        for b in d.utf8 {
            if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") {
                guard digits < 3 else { return nil }
                v = v * 10 + Int32(b - 48)
                digits += 1
            } else if b == UInt8(ascii: ".") {
                guard digits > 0, parts.count < 2 else { return nil }
                parts.append(v)
                v = 0
                digits = 0
            } else {
                return nil
            }
        }
        guard digits > 0, parts.count == 2 else { return nil }
        return (parts[0], parts[1], v)
    }

    /// Needles first: most rules fail there, on a few integers.
    @inline(__always)
    private static func matches(_ r: UnsafePointer<Compiled>, _ found: [Bool], code: Int?,
                                dsn: (cls: Int32, subject: Int32, detail: Int32)?, provider: Int?) -> Bool {
        for n in r.pointee.all where !found[Int(n)] { return false }
        if !r.pointee.any.isEmpty && !r.pointee.any.contains(where: { found[Int($0)] }) { return false }
        if !r.pointee.peerReplies && code != nil { return false }
        if r.pointee.provider != -1 {
            guard let provider, Int32(provider) == r.pointee.provider else { return false }
        }
        if !r.pointee.codes.isEmpty {
            guard let code, r.pointee.codes.contains(code) else { return false }
        }
        if r.pointee.hasDSN {
            guard let dsn else { return false }
            if !r.pointee.dsnExact.contains(dsn.subject * 1000 + dsn.detail)
                && !r.pointee.dsnSubjects.contains(dsn.subject)
                && !r.pointee.dsnClasses.contains(dsn.cls) { return false }
        }
        return true
    }

    /// Convenience for one string (the `classify` command, tests).
    public func classify(_ text: String, code: Int? = nil, dsn: String? = nil, provider: Int? = nil) -> (Cause, Int?) {
        var scratch = Scratch()
        var copy = text
        return copy.withUTF8 { classify($0, code: code, dsn: dsn, provider: provider, scratch: &scratch) }
    }
}
