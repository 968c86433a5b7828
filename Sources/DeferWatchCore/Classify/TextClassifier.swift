/// Classifies one free-standing text for `deferwatch classify`: a receiver's reply
/// (`421-4.7.28 ...`), a Postfix or Exim failure text, or a whole log line.
public struct TextClassifier {
    public let rules: RuleSet
    private var pipeline: LogPipeline
    private var scratch = RuleSet.Scratch()

    public struct Result: Sendable {
        public var text: String
        public var cause: Cause
        public var provider: String?
        public var rule: Rule?
        public var code: Int?
        public var dsn: String?
        /// Every rule that matched, in the order of evaluation (the first decided), with the
        /// needles found: filled by `classify(_:explain: true)`.
        public var evidence: [(rule: Rule, needles: [String])] = []
        /// The stage markers of the classified text ("(in reply to RCPT TO command)", Exim's
        /// "after RCPT TO:<...>:"), which no needle was matched in: filled with `evidence`.
        public var stageMarkers: [String] = []
        /// How sure the cause is: the deciding rule's layer, or for a log line whose cause
        /// was inherited, the confidence it inherited.
        public var confidence: Confidence = .low
        /// True for a log line that carried no reason of its own and took an earlier cause.
        public var inherited = false
        /// Whether `evidence` was asked for (then it is written, also when empty).
        public var explained = false

        public func json() -> [UInt8] {
            let w = JSONWriter()
            w.beginObject()
            w.key("text"); w.string(text)
            w.key("cause"); w.string(cause.rawValue)
            w.key("origin"); w.string(cause.origin.rawValue)
            w.key("provider"); w.string(provider)
            w.key("rule"); w.string(rule?.id)
            w.key("rule_origin"); w.string(rule?.origin)
            w.key("layer"); w.string(rule?.layer.rawValue)
            w.key("confidence"); w.string(confidence.rawValue)
            w.key("code"); w.int(code)
            w.key("dsn"); w.string(dsn)
            w.key("inherited"); w.bool(inherited)
            if explained {
                w.key("evidence"); w.beginArray()
                for (r, needles) in evidence {
                    w.beginObject()
                    w.key("rule"); w.string(r.id)
                    w.key("cause"); w.string(r.cause.rawValue)
                    w.key("layer"); w.string(r.layer.rawValue)
                    w.key("rule_origin"); w.string(r.origin)
                    w.key("needles"); w.beginArray(); for n in needles { w.string(n) }; w.endArray()
                    w.endObject()
                }
                w.endArray()
                w.key("stage_markers"); w.beginArray(); for m in stageMarkers { w.string(m) }; w.endArray()
            }
            w.endObject()
            w.newline()
            return w.bytes
        }
    }

    public init(rules: RuleSet) {
        self.rules = rules
        pipeline = LogPipeline(header: LineHeaderParser(yearHint: 2000, monthHint: 12), rules: rules)
    }

    /// `provider` names the receiver when it is known another way (the corpus test); else it
    /// comes from `relay`, `domain`, or a host named in the text.
    public mutating func classify(_ text: String, relay: String? = nil, domain: String? = nil, provider named: String? = nil,
                                  explain: Bool = false) -> Result {
        var copy = text
        // A whole log line: parse it as deferwatch would.
        var event: DeliveryEvent?
        copy.withUTF8 { line in pipeline.process(line: line, emit: { event = $0 }) }
        if let e = event, e.status != .sent {
            var r = Result(text: text, cause: e.cause ?? .other, provider: e.provider,
                           rule: e.rule.flatMap { id in rules.rules.first { $0.id == id } }, code: e.code, dsn: e.dsn)
            r.confidence = e.confidence ?? .low
            r.inherited = e.inherited
            r.explained = explain
            if explain {
                var reason = e.reason
                let p = e.provider.flatMap { rules.providerIndex(named: $0) }
                r.evidence = reason.withUTF8 { rules.evidence($0, code: e.code, dsn: e.dsn, provider: p) }
                    .map { (rules.rules[$0.rule], $0.needles) }
                r.stageMarkers = reason.withUTF8 { Self.markers($0, rules) }
            }
            return r
        }
        return copy.withUTF8 { t in
            var code: Int?
            var dsn: String?
            if let (c, d) = ReplyScanner.codeAt(t, 0) { code = c; dsn = d }
            else if let r = ReplyScanner.reply(in: t) { code = r.code; dsn = r.dsn }
            if dsn == nil, let d = ReplyScanner.enhancedCode(t, 0) { dsn = d }
            var provider = named.flatMap { rules.providerIndex(named: $0) }
            if provider == nil {
                provider = rules.providerIndex(relay: relay?.asciiLowercased ?? mentionedHost(t), domain: domain?.asciiLowercased)
            }
            if provider == nil { provider = mentionedProvider(t) }
            let (cause, rule) = rules.classify(t, code: code, dsn: dsn, provider: provider, scratch: &scratch)
            var r = Result(text: text, cause: cause, provider: provider.map { rules.providers[$0].name },
                           rule: rule.map { rules.rules[$0] }, code: code, dsn: dsn)
            r.confidence = rule.map { rules.rules[$0].layer.confidence } ?? .low
            r.explained = explain
            if explain {
                r.evidence = rules.evidence(t, code: code, dsn: dsn, provider: provider).map { (rules.rules[$0.rule], $0.needles) }
                r.stageMarkers = Self.markers(t, rules)
            }
            return r
        }
    }

    private static func markers(_ t: Bytes, _ rules: RuleSet) -> [String] {
        rules.stageMarkers(t).map { t.slice($0.lowerBound, $0.upperBound).string }
    }

    /// The host in "host H[ip] said", "connect to H[ip]", Exim "H=H [ip]" or "host H [ip]".
    private func mentionedHost(_ t: Bytes) -> String? {
        for p: StaticString in ["host ", "connect to ", "lost connection with ", "conversation with ", "H="] {
            if let i = t.find(p) {
                let start = i + p.utf8CodeUnitCount
                if let (h, _, _) = ReplyScanner.hostAndIP(t, start), h.count > 0 { return h.string.asciiLowercased }
                if let (h, _, _) = ReplyScanner.eximHostAndIP(t, start), h.count > 0 { return h.string.asciiLowercased }
            }
        }
        return nil
    }

    /// A provider named by a host name inside the text (Gmail's replies link to
    /// support.google.com, Microsoft's end with a protection.outlook.com server name).
    private func mentionedProvider(_ t: Bytes) -> Int? {
        var i = 0
        while i < t.count {
            while i < t.count, !Self.isHostByte(t[i]) { i += 1 }
            let start = i
            while i < t.count, Self.isHostByte(t[i]) { i += 1 }
            let token = t.slice(start, i)
            if token.index(of: UInt8(ascii: ".")) != nil, let p = rules.providerIndex(relay: token.string.asciiLowercased, domain: nil) {
                return p
            }
        }
        return nil
    }

    private static func isHostByte(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: ".") || b == UInt8(ascii: "-")
    }
}
