extension QueueView {
    /// A duration for people: `45s`, `12m`, `3h05m`, `2d04h`; negative ones as `-3h05m`.
    public static func age(_ seconds: Int64) -> String {
        if seconds < 0 { return "-" + age(seconds == Int64.min ? Int64.max : -seconds) }
        let s = seconds
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" }
        if s < 86_400 { return "\(s / 3600)h\(pad2(s % 3600 / 60))m" }
        return "\(s / 86_400)d\(pad2(s % 86_400 / 3600))h"
    }

    private static func pad2(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// The view as text: the totals, the age buckets of all messages, then per scope the
    /// destinations with the most deferred messages.
    public func text(reconciliation: String? = nil) -> String {
        var out = "Deferred queue as the logs show it, at \(CivilTime.rfc3339(time * TrackerConfig.second))\n"
        if messages == 0 {
            out += "  no message is waiting on a deferred recipient\n"
        } else {
            out += "  \(messages) message\(messages == 1 ? "" : "s") (\(recipients) recipient\(recipients == 1 ? "" : "s")) deferred"
            if let o = oldestAge { out += "; oldest \(Self.age(o))" }
            if let e = expiresIn { out += e >= 0 ? ", first expiry in \(Self.age(e))" : ", overdue by \(Self.age(-e))" }
            out += "\n"
            if atRisk > 0 {
                out += "  \(atRisk) message\(atRisk == 1 ? " is" : "s are") within \(Self.age(atRiskBefore)) of expiring\n"
            }
        }
        if dropped > 0 || forgotten > 0 {
            out += "  not followed: \(dropped) (max_messages reached); forgotten: \(forgotten) (no attempt for a day)\n"
        }
        out += "  lifetimes: postfix \(Self.age(postfixLifetime)), exim \(Self.age(eximLifetime))\n"
        if let reconciliation { out += reconciliation }
        guard messages > 0 else { return out }
        out += "\n" + Self.table(header: "", rows: [("all", "", ages, messages, recipients, oldestAge ?? 0, expiresIn ?? 0, atRisk)])
        for (scope, title, total) in [(Scope.domain, "DOMAIN", domainsTotal), (.relay, "RELAY", relaysTotal), (.provider, "PROVIDER", providersTotal)] {
            let these = rows.filter { $0.scope == scope }
            guard !these.isEmpty else { continue }
            out += "\n" + Self.table(header: title, rows: these.map { ($0.name, $0.cause.rawValue, $0.ages, $0.messages, $0.recipients, $0.oldestAge, $0.expiresIn, $0.atRisk) })
            let shown = Set(these.map(\.name)).count
            if total > shown { out += "  ... and \(total - shown) more\n" }
        }
        if let list, !list.isEmpty {
            out += "\nMESSAGES (oldest first)\n"
            for m in list {
                let age = Self.age(max(0, time - m.arrival))
                out += "  \(m.queueId)  \(m.host)  \(m.mta.rawValue)  age \(age)  \(m.recipients) rcpt  \(m.domains.joined(separator: ","))  \(m.causes.map(\.rawValue).joined(separator: ","))\n"
            }
            if listTruncated == true { out += "  ... (list cut)\n" }
        }
        return out
    }

    private static func table(header: String, rows: [(String, String, [Int], Int, Int, Int64, Int64, Int)]) -> String {
        let nameWidth = max(header.count, rows.map(\.0.count).max() ?? 0, 3)
        let causeWidth = max(5, rows.map(\.1.count).max() ?? 0)
        func padR(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
        func padL(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
        var out = "  " + padR(header, nameWidth) + "  " + padR(header.isEmpty ? "" : "CAUSE", causeWidth)
            + padL("MSGS", 7) + padL("RCPTS", 7) + padL("OLDEST", 8) + padL("EXPIRES", 9) + padL("RISK", 6)
        for l in bucketLabels { out += padL(l, max(6, l.count + 1)) }
        out += "\n"
        for r in rows {
            out += "  " + padR(r.0, nameWidth) + "  " + padR(r.1, causeWidth) + padL(String(r.3), 7) + padL(String(r.4), 7)
                + padL(age(r.5), 8) + padL(age(r.6), 9) + padL(String(r.7), 6)
            for (i, l) in bucketLabels.enumerated() { out += padL(String(r.2[i]), max(6, l.count + 1)) }
            out += "\n"
        }
        return out
    }
}
