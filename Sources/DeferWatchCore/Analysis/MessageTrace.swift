/// `deferwatch trace`: one message's journey through Postfix or Exim, from the log lines
/// that name it. Two passes over the logs: `Finder` learns which messages the query names
/// (a queue id, a recipient or sender address, a Message-ID) and the bounces they created;
/// `Collector` gathers every line of those messages in log order, the delivery attempts
/// classified by the same pipeline as `analyze`. Pure: records in, traces out.
public enum MessageTrace {
    /// A message: its host and queue id (Postfix) or message id (Exim).
    public struct MessageKey: Hashable, Sendable {
        public var host: String
        public var id: String
        public init(host: String, id: String) {
            self.host = host
            self.id = id
        }
    }

    /// What one line says of a message.
    public struct Step: Sendable {
        public enum Kind: String, Sendable {
            case received, messageID = "message-id", queued, sent, deferred, bounced, expired
            case bounceCreated = "bounce-created", removed, completed, other
        }
        public var time: Int64?
        public var kind: Kind
        /// `to=<...>` / `from=<...>` / `client=...`: the line's own words, short.
        public var detail: String
        public var recipient: String?
        public var relay: String?
        public var dsn: String?
        public var cause: Cause?
        public var text: String?
    }

    public struct Trace: Sendable {
        public var key: MessageKey
        public var mta: MTA
        /// The message whose bounce this is, if it was traced.
        public var parent: MessageKey?
        public var steps: [Step] = []
        public var sender: String?
        public var messageID: String?
    }

    /// The query, as the user gave it: a queue id, an address, or a Message-ID.
    public struct Query: Sendable {
        public let text: String
        let lower: String
        /// `lower`'s bytes when it is all ASCII (nil: the quick test of `mayName` is not made).
        let asciiLower: [UInt8]?
        public init(_ text: String) {
            var t = text
            if t.hasPrefix("<"), t.hasSuffix(">"), t.count > 2 { t = String(t.dropFirst().dropLast()) }
            self.text = t
            lower = t.lowercased()
            asciiLower = lower.utf8.allSatisfy { $0 < 0x80 } && !lower.isEmpty ? Array(lower.utf8) : nil
        }
    }

    /// Whether a line's message may name the query (`Finder.names`), tested on its bytes
    /// before any string is made of it: false only when the message is all ASCII and
    /// nowhere holds the query, letters compared without case. Every way `names` matches
    /// compares a lower-cased part of the line with the lower-cased query (or the line's id
    /// with the query as given), so such a line cannot match; a message with other bytes
    /// goes the whole way, as Unicode lower-casing may map them to ASCII.
    static func mayName(_ message: Bytes, _ q: [UInt8]) -> Bool {
        let n = message.count, m = q.count
        guard m > 0 else { return true }
        let first = q[0]
        var i = 0
        while i < n {
            let b = message[i]
            if b >= 0x80 { return true }
            if b | (b &- 0x41 < 26 ? 0x20 : 0) == first, i + m <= n {
                var j = 1
                while j < m {
                    let c = message[i + j]
                    if c >= 0x80 { return true }
                    if c | (c &- 0x41 < 26 ? 0x20 : 0) != q[j] { break }
                    j += 1
                }
                if j == m { return true }
            }
            i += 1
        }
        return false
    }


    /// What a delivery attempt's line said, as a trace shows it.
    public struct Attempt: Sendable {
        public var status: DeliveryStatus
        public var recipient: String?
        public var relay: String?
        public var dsn: String?
        /// nil for a delivery.
        public var cause: Cause?
        /// The reply, at most 500 bytes (nil when the line had none).
        public var text: String?

        public init(status: DeliveryStatus, cause: Cause?) {
            self.status = status
            self.cause = cause
        }

        public init(_ e: DeliveryEvent) {
            status = e.status
            recipient = e.recipient
            relay = e.relay
            dsn = e.dsn
            cause = e.status == .sent ? nil : e.cause
            text = e.text.isEmpty ? nil : String(e.text.prefix(500))
        }
    }

    /// One Postfix or Exim line that names a message, as both passes read it: from the
    /// files (`trace --from`), or kept by the daemon for `status trace` (`Recent`).
    public struct Line: Sendable {
        public var time: Int64?
        public var mta: MTA
        public var key: MessageKey
        /// The line after the message id, at most `restLimit` bytes.
        public var rest: String
        public var attempt: Attempt?

        public init(time: Int64?, mta: MTA, key: MessageKey, rest: String, attempt: Attempt?) {
            self.time = time
            self.mta = mta
            self.key = key
            self.rest = rest
            self.attempt = attempt
        }

        public static let restLimit = 2_000
    }

    /// The line of a record, nil when it names no message.
    public static func line(_ r: LogRecord, event: DeliveryEvent?) -> Line? {
        guard let (mta, id, rest) = split(r) else { return nil }
        let kept = rest.utf8.count > Line.restLimit ? String(decoding: rest.utf8.prefix(Line.restLimit), as: UTF8.self) : rest
        return Line(time: r.time, mta: mta, key: MessageKey(host: r.host.lowercasedString, id: id), rest: kept,
                    attempt: event.map(Attempt.init))
    }

    /// The MTA of a line that names a message, its message id and the rest after it
    /// (Postfix: "ID: rest"; Exim: "ID rest"), as bytes of the record; nil when it names none.
    static func idBytes(_ r: LogRecord) -> (mta: MTA, id: Bytes, rest: Bytes)? {
        if PostfixParser.isPostfix(program: r.program) {
            // The id is 5 to 20 letters and digits; only its bytes are looked at.
            let m = r.message
            let n = min(m.count, 21)
            var colon = 0
            while colon < n, m[colon] != UInt8(ascii: ":") {
                let b = m[colon]
                guard (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) else { return nil }
                colon += 1
            }
            guard colon < n, colon >= 5, colon + 2 <= m.count else { return nil }
            return (.postfix, m.slice(0, colon), m.dropFirst(colon + 2))
        }
        if EximParser.isExim(program: r.program) {
            let m = EximParser.body(r.message)
            // The first space at 16 to 23, looked for in those bytes only.
            var sp = 0
            let n = min(m.count, 24)
            while sp < n, m[sp] != UInt8(ascii: " ") { sp += 1 }
            guard sp < n, sp >= 16, m[6] == UInt8(ascii: "-") else { return nil }
            return (.exim, m.slice(0, sp), m.dropFirst(sp + 1))
        }
        return nil
    }

    /// The message id a line names, nil when it names none.
    static func id(_ r: LogRecord) -> String? {
        idBytes(r).map { $0.id.string }
    }

    /// A line split into its message id and the rest, or nil when it names no message.
    static func split(_ r: LogRecord) -> (mta: MTA, id: String, rest: String)? {
        idBytes(r).map { ($0.mta, $0.id.string, $0.rest.string) }
    }

    /// The value of `name=<...>` in a Postfix line, lower case.
    static func angle(_ rest: String, _ name: String) -> String? {
        guard let r = rest.firstRange(of: name + "=<") else { return nil }
        let after = rest[r.upperBound...]
        guard let end = after.firstIndex(of: ">") else { return nil }
        return after[..<end].lowercased()
    }

    /// Pass one: which messages the query names, and the bounces they created.
    public struct Finder {
        public let query: Query
        public private(set) var matched: Set<MessageKey> = []
        public private(set) var parents: [MessageKey: MessageKey] = [:]
        /// The ids of `matched`, whatever their host: a line of another id needs no more look.
        private var matchedIDs: Set<String> = []
        /// Messages matched at most (a query that names every message of a busy log).
        public var limit = 1_000

        public init(query: Query) { self.query = query }

        public mutating func take(_ r: LogRecord) {
            // Most lines neither name the query nor belong to a matched message (nor are
            // an Exim bounce's arrival, whose parent may be one): told from their bytes.
            if let q = query.asciiLower, !MessageTrace.mayName(r.message, q) {
                guard !matched.isEmpty, let id = MessageTrace.id(r) else { return }
                if !matchedIDs.contains(id) && r.message.find("<= <> ") == nil { return }
            }
            if let l = MessageTrace.line(r, event: nil) { take(l) }
        }

        public mutating func take(_ l: Line) {
            let (mta, key, rest) = (l.mta, l.key, l.rest)
            let id = key.id
            if matched.contains(key) {
                // A bounce of a traced message is traced too.
                if mta == .postfix, let r = rest.firstRange(of: "sender non-delivery notification: ") {
                    let child = MessageKey(host: key.host, id: String(rest[r.upperBound...].prefix { $0 != " " }))
                    add(child, parent: key)
                }
                return
            }
            if mta == .exim, rest.hasPrefix("<= <> "), let r = rest.firstRange(of: " R=") {
                let parent = MessageKey(host: key.host, id: String(rest[r.upperBound...].prefix { $0 != " " }))
                if matched.contains(parent) { add(key, parent: parent); return }
            }
            if names(id: id, rest: rest, mta: mta) { add(key, parent: nil) }
        }

        /// Whether a line kept as bytes (`Recent`), its id and rest, may change what this
        /// pass finds, as `take(_ r: LogRecord)` tells it from a record: a line it says no
        /// to need not be decoded.
        func mayTake(id: Bytes, rest: Bytes) -> Bool {
            guard let q = query.asciiLower else { return true }
            // `names` compares the id with the query as given, so it contains the query.
            if MessageTrace.mayName(rest, q) || MessageTrace.mayName(id, q) { return true }
            guard !matched.isEmpty else { return false }
            return matchedIDs.contains(id.string) || rest.find("<= <> ") != nil
        }

        private mutating func add(_ k: MessageKey, parent: MessageKey?) {
            guard matched.count < limit else { return }
            matched.insert(k)
            matchedIDs.insert(k.id)
            if let parent { parents[k] = parent }
        }

        func names(id: String, rest: String, mta: MTA) -> Bool {
            if id == query.text { return true }
            let q = query.lower
            guard rest.utf8.count >= q.utf8.count else { return false }
            switch mta {
            case .postfix:
                for f in ["to", "orig_to", "from", "message-id"] where MessageTrace.angle(rest, f) == q { return true }
                return false
            case .exim:
                let words = rest.split(separator: " ", maxSplits: 3)
                if words.count >= 2, ["<=", "=>", "->", "==", "**", ">>"].contains(words[0]) {
                    var addr = words[1].lowercased()
                    if addr.hasPrefix("<"), addr.hasSuffix(">") { addr = String(addr.dropFirst().dropLast()) }
                    if addr == q { return true }
                    if let r = rest.firstRange(of: " <"), words[0] != "<=" {
                        // `=> alias <original@domain>`
                        let after = rest[r.upperBound...]
                        if let e = after.firstIndex(of: ">"), after[..<e].lowercased() == q { return true }
                    }
                }
                if let r = rest.firstRange(of: " id=") {
                    var v = String(rest[r.upperBound...].prefix { $0 != " " }).lowercased()
                    if v.hasPrefix("<"), v.hasSuffix(">") { v = String(v.dropFirst().dropLast()) }
                    if v == q { return true }
                }
                return false
            }
        }
    }

    /// Pass two: every line of the matched messages, in log order.
    public struct Collector {
        public let matched: Set<MessageKey>
        public let parents: [MessageKey: MessageKey]
        public private(set) var traces: [MessageKey: Trace] = [:]
        public private(set) var order: [MessageKey] = []
        /// Lines kept per message at most.
        public var stepLimit = 10_000

        /// The ids of `matched`, whatever their host.
        private let matchedIDs: Set<String>

        public init(_ finder: Finder) {
            matched = finder.matched
            parents = finder.parents
            matchedIDs = Set(finder.matched.map(\.id))
        }

        /// Whether a line kept as bytes (`Recent`) may be of a matched message.
        func mayTake(id: Bytes) -> Bool { !matched.isEmpty && matchedIDs.contains(id.string) }

        /// `event`: the line's delivery attempt, classified (the caller's pipeline).
        public mutating func take(_ r: LogRecord, event: DeliveryEvent?) {
            guard !matched.isEmpty, let id = MessageTrace.id(r), matchedIDs.contains(id),
                  let l = MessageTrace.line(r, event: event) else { return }
            take(l)
        }

        public mutating func take(_ l: Line) {
            let (mta, key, rest) = (l.mta, l.key, l.rest)
            guard matched.contains(key) else { return }
            if traces[key] == nil {
                traces[key] = Trace(key: key, mta: mta, parent: parents[key])
                order.append(key)
            }
            guard traces[key]!.steps.count < stepLimit else { return }
            var s = Step(time: l.time, kind: .other, detail: String(rest.prefix(300)))
            if let e = l.attempt {
                switch e.status {
                case .sent: s.kind = .sent
                case .deferred: s.kind = .deferred
                case .bounced: s.kind = .bounced
                case .expired: s.kind = .expired
                }
                s.recipient = e.recipient
                s.relay = e.relay
                s.dsn = e.dsn
                s.cause = e.cause
                s.text = e.text
            } else if mta == .postfix {
                if rest.hasPrefix("client=") || rest.hasPrefix("uid=") { s.kind = .received }
                else if rest.hasPrefix("message-id=") {
                    s.kind = .messageID
                    traces[key]!.messageID = MessageTrace.angle(rest, "message-id")
                } else if rest.hasPrefix("from=<") {
                    s.kind = .queued
                    traces[key]!.sender = MessageTrace.angle(rest, "from")
                } else if rest.hasPrefix("removed") { s.kind = .removed }
                else if rest.hasPrefix("sender non-delivery notification: ") { s.kind = .bounceCreated }
            } else {
                if rest.hasPrefix("<= ") {
                    s.kind = .received
                    let sender = rest.dropFirst(3).prefix { $0 != " " }.lowercased()
                    traces[key]!.sender = sender == "<>" ? "" : sender
                    if let r = rest.firstRange(of: " id=") { traces[key]!.messageID = String(rest[r.upperBound...].prefix { $0 != " " }) }
                } else if rest.hasPrefix("Completed") { s.kind = .completed }
            }
            traces[key]!.steps.append(s)
        }

        public var result: [Trace] { order.compactMap { traces[$0] } }
    }
}

extension MessageTrace.Trace {
    /// The message's last word per recipient: delivered, bounced, expired, still deferred.
    public var outcome: String {
        var last: [String: MessageTrace.Step.Kind] = [:]
        var deferrals = 0
        for s in steps {
            guard let r = s.recipient ?? (s.kind == .expired ? "*" : nil) else { continue }
            if s.kind == .deferred { deferrals += 1 }
            if [.sent, .deferred, .bounced, .expired].contains(s.kind) { last[r] = s.kind }
        }
        let removed = steps.contains { $0.kind == .removed || $0.kind == .completed }
        var counts: [String: Int] = [:]
        for k in last.values {
            let word = k == .sent ? "delivered" : k == .deferred ? (removed ? "removed while deferred" : "still deferred") : k.rawValue
            counts[word, default: 0] += 1
        }
        let parts = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
        let tail = deferrals > 0 ? ", \(deferrals) deferred attempts" : ""
        return (parts.isEmpty ? "no delivery attempt seen" : parts.joined(separator: ", ")) + tail + (removed ? "; left the queue" : "")
    }

    /// The trace as text: a header, one line per step, the outcome.
    public var text: String {
        var o = "message \(key.id) on \(key.host) (\(mta.rawValue))"
        if let p = parent { o += ", the bounce of \(p.id)" }
        o += "\n"
        if let s = sender { o += "  sender      <\(s)>\n" }
        if let m = messageID { o += "  message-id  <\(m)>\n" }
        for s in steps {
            let t = s.time.map(CivilTime.rfc3339) ?? "-"
            var line = "  \(t)  \(s.kind.rawValue)"
            switch s.kind {
            case .sent, .deferred, .bounced, .expired:
                if let r = s.recipient { line += " to=<\(r)>" }
                if let r = s.relay { line += " relay=\(r)" }
                if let d = s.dsn { line += " dsn=\(d)" }
                if let c = s.cause { line += " cause=\(c.rawValue)" }
                if s.kind != .sent, let x = s.text { line += "\n      \(x)" }
            default:
                line += "  \(s.detail)"
            }
            o += line + "\n"
        }
        o += "  outcome     \(outcome)\n"
        return o
    }

    public func writeJSON(to w: JSONWriter) {
        w.beginObject()
        w.key("id"); w.string(key.id)
        w.key("host"); w.string(key.host)
        w.key("mta"); w.string(mta.rawValue)
        w.key("parent"); w.string(parent?.id)
        w.key("sender"); w.string(sender)
        w.key("message_id"); w.string(messageID)
        w.key("outcome"); w.string(outcome)
        w.key("steps"); w.beginArray()
        for s in steps {
            w.beginObject()
            w.key("time"); w.time(s.time)
            w.key("kind"); w.string(s.kind.rawValue)
            w.key("recipient"); w.string(s.recipient)
            w.key("relay"); w.string(s.relay)
            w.key("dsn"); w.string(s.dsn)
            w.key("cause"); w.string(s.cause?.rawValue)
            w.key("text"); w.string(s.text ?? s.detail)
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }
}
