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

        public func json() -> [UInt8] {
            let w = JSONWriter()
            w.beginObject()
            w.key("text"); w.string(text)
            w.key("cause"); w.string(cause.rawValue)
            w.key("provider"); w.string(provider)
            w.key("rule"); w.string(rule?.id)
            w.key("code"); w.int(code)
            w.key("dsn"); w.string(dsn)
            w.endObject()
            w.newline()
            return w.bytes
        }
    }

    public init(rules: RuleSet) {
        self.rules = rules
        pipeline = LogPipeline(header: LineHeaderParser(yearHint: 2000, monthHint: 12), rules: rules)
    }

    public mutating func classify(_ text: String, relay: String? = nil, domain: String? = nil) -> Result {
        var copy = text
        // A whole log line: parse it as deferwatch would.
        var event: DeliveryEvent?
        copy.withUTF8 { line in pipeline.process(line: line, emit: { event = $0 }) }
        if let e = event, e.status != .sent {
            return Result(text: text, cause: e.cause ?? .other, provider: e.provider,
                          rule: e.rule.flatMap { id in rules.rules.first { $0.id == id } }, code: e.code, dsn: e.dsn)
        }
        return copy.withUTF8 { t in
            var code: Int?
            var dsn: String?
            if let (c, d) = ReplyScanner.codeAt(t, 0) { code = c; dsn = d }
            else if let r = ReplyScanner.reply(in: t) { code = r.code; dsn = r.dsn }
            if dsn == nil, let d = ReplyScanner.enhancedCode(t, 0) { dsn = d }
            var provider = rules.providerIndex(relay: relay?.asciiLowercased ?? mentionedHost(t), domain: domain?.asciiLowercased)
            if provider == nil { provider = mentionedProvider(t) }
            let (cause, rule) = rules.classify(t, code: code, dsn: dsn, provider: provider, scratch: &scratch)
            return Result(text: text, cause: cause, provider: provider.map { rules.providers[$0].name },
                          rule: rule.map { rules.rules[$0] }, code: code, dsn: dsn)
        }
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
            if token.index(of: 46) != nil, let p = rules.providerIndex(relay: token.string.asciiLowercased, domain: nil) {
                return p
            }
        }
        return nil
    }

    private static func isHostByte(_ b: UInt8) -> Bool {
        (b >= 97 && b <= 122) || (b >= 65 && b <= 90) || (b >= 48 && b <= 57) || b == 46 || b == 45
    }
}
