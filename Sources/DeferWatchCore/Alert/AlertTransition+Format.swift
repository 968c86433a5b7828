extension AlertTransition {
    /// `15m`, `1h`, `90s`.
    public static func duration(_ micros: Int64) -> String {
        let s = micros / 1_000_000
        if s % 3600 == 0 && s >= 3600 { return "\(s / 3600)h" }
        if s % 60 == 0 && s >= 60 { return "\(s / 60)m" }
        return "\(s)s"
    }

    /// The transition as one JSON object (`analyze --alerts --json`, the JSON-lines sink).
    public func writeJSON(to w: JSONWriter) {
        let a = alert
        w.beginObject()
        w.key("time"); w.time(time)
        w.key("id"); w.int(a.id)
        w.key("state"); w.string(state.rawValue)
        w.key("severity"); w.string(severity.rawValue)
        w.key("cause"); w.string(a.cause.rawValue)
        w.key("confidence"); w.string(a.confidence?.rawValue)
        w.key("rule"); w.string(a.rule)
        w.key("scope"); w.string(a.key.scope.rawValue)
        w.key("key"); w.string(a.key.name)
        w.key("provider"); w.string(a.provider)
        w.key("domain"); w.string(a.domain)
        w.key("relay"); w.string(a.relay)
        w.key("host"); w.string(host)
        w.key("mta"); w.string(a.mta.rawValue)
        w.key("deferrals"); w.int(a.deferrals)
        w.key("attempts"); w.int(a.attempts)
        w.key("expired"); w.int(a.expired)
        if let r = a.atRisk { w.key("at_risk"); w.int(r) }
        w.key("window"); w.string(Self.duration(window))
        w.key("first_seen"); w.time(a.firstSeen)
        w.key("last_seen"); w.time(a.lastSeen)
        w.key("recipients"); w.int(a.recipients)
        w.key("recurring"); w.int(a.recurring)
        if let d = a.destinations { w.key("destinations"); w.int(d) }
        if let s = a.senders {
            w.key("senders")
            w.beginArray()
            for d in s { w.string(d) }
            w.endArray()
        }
        w.key("sample"); w.string(a.sample)
        w.key("hint"); w.string(hint)
        if let absorbedBy { w.key("absorbed_by"); w.int(absorbedBy) }
        if let r = resolveReason { w.key("resolved"); w.string(r) }
        if endOfInput { w.key("end_of_input"); w.bool(true) }
        w.endObject()
    }

    public var jsonLine: String {
        let w = JSONWriter()
        writeJSON(to: w)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// The transition as one line of `key=value` pairs, for syslog and the text output of
    /// `analyze --alerts`. Values with spaces or quotes are quoted; control characters
    /// (newlines included) are escaped, so a hostile reply text cannot forge a second line.
    public var logLine: String { logLine(checks: nil) }

    /// The line with `checks=` (an alert's last DNS checks, on a reminder) before its
    /// summary.
    public func logLine(checks: String?) -> String {
        let a = alert
        var parts: [String] = []
        func add(_ k: String, _ v: String?) { parts.append("\(k)=\(Self.quote(v ?? "-"))") }
        add("alert", state.rawValue)
        add("id", String(a.id))
        add("severity", severity.rawValue)
        add("cause", a.cause.rawValue)
        add("confidence", a.confidence?.rawValue)
        add("scope", a.key.scope.rawValue)
        add("key", a.key.name)
        add("provider", a.provider)
        add("domain", a.domain)
        add("relay", a.relay)
        add("host", host)
        add("deferrals", String(a.deferrals))
        add("attempts", String(a.attempts))
        if a.expired > 0 { add("expired", String(a.expired)) }
        if let r = a.atRisk { add("at_risk", String(r)) }
        add("window", Self.duration(window))
        add("first_seen", CivilTime.rfc3339(a.firstSeen))
        add("last_seen", CivilTime.rfc3339(a.lastSeen))
        add("recipients", String(a.recipients))
        add("recurring", String(a.recurring))
        if let d = a.destinations { add("destinations", String(d)) }
        if let absorbedBy { add("absorbed_by", String(absorbedBy)) }
        if let r = resolveReason { add("resolved", r) }
        if endOfInput { add("end_of_input", "true") }
        if let checks { add("checks", checks) }
        add("summary", summary)
        add("sample", a.sample.isEmpty ? nil : a.sample)
        add("hint", hint)
        return parts.joined(separator: " ")
    }

    /// One sentence for people: what is happening.
    public var summary: String {
        let a = alert
        let dest: String
        switch a.key.scope {
        case .provider: dest = "provider \(a.key.name)"
        case .domain: dest = a.key.name
        case .relay: dest = "relay \(a.key.name)"
        case .all: dest = "\(a.destinations ?? 1) destinations (a storm past max_open_alerts, one alert for all)"
        }
        let isAre = a.key.scope == .all ? "are" : "is"
        let via = host.map { " from \($0)" } ?? ""
        let rec = a.recurring > 1 ? ", recurring (\(a.recurring) episodes in 24h)" : ""
        switch state {
        case .open where endOfInput:
            return "\(dest) still deferring mail\(via) for \(a.cause.rawValue) at the end of the input\(rec)"
        case .open: return "\(dest) \(isAre) deferring mail\(via): \(a.cause.rawValue)\(rec)"
        case .escalate: return "\(dest) still deferring mail\(via) (\(a.cause.rawValue)), getting worse\(a.expired > 0 ? ": messages are expiring" : a.atRisk != nil ? ": \(a.atRisk!) message\(a.atRisk == 1 ? " is" : "s are") close to expiring" : "")\(rec)"
        case .remind: return "\(dest) still deferring mail\(via): \(a.cause.rawValue)\(rec)"
        case .resolve:
            if let absorbedBy { return "\(dest): now part of the wider alert \(absorbedBy)" }
            if resolvedByDelivery { return "\(dest) \(a.key.scope == .all ? "accept" : "accepts") mail again\(via) (\(a.cause.rawValue) cleared)" }
            return "\(dest) quiet\(via) for \(Self.duration(max(0, time - a.lastSeen) / 60_000_000 * 60_000_000)), with no delivery seen since (\(a.cause.rawValue) no longer seen; the mail may have expired, been removed or be waiting)"
        }
    }

    /// A resolve because mail was delivered after the last deferral (else: because it went quiet).
    public var resolvedByDelivery: Bool { (alert.lastSuccess ?? Int64.min) > alert.lastSeen }

    /// `delivered` or `quiet` for a resolve that was not absorbed by a wider alert.
    var resolveReason: String? {
        guard state == .resolve, absorbedBy == nil else { return nil }
        return resolvedByDelivery ? "delivered" : "quiet"
    }

    /// Quotes a value when needed and escapes what could break the line.
    public static func quote(_ v: String) -> String {
        var needsQuotes = v.isEmpty
        var out = ""
        out.reserveCapacity(v.utf8.count + 2)
        for u in v.unicodeScalars {
            switch u {
            case " ", "=": needsQuotes = true; out.unicodeScalars.append(u)
            case "\"": needsQuotes = true; out += "\\\""
            case "\\": needsQuotes = true; out += "\\\\"
            case "\n": needsQuotes = true; out += "\\n"
            case "\r": needsQuotes = true; out += "\\r"
            case "\t": needsQuotes = true; out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F || (u.value >= 0x80 && u.value < 0xA0) || u.value == 0x2028 || u.value == 0x2029 {
                    needsQuotes = true
                    out += "\\x" + String(u.value, radix: 16).leftPadded(2)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return needsQuotes ? "\"\(out)\"" : out
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
