/// `deferwatch status` for people: health first, then what is wrong now.
extension StatusReport {
    public var text: String {
        var out = "deferwatch \(version), running for \(Self.span(uptimeSeconds)) (pid \(pid))\n"
        out += "  Health:   " + (problems.isEmpty ? "ok" : "PROBLEMS") + "\n"
        for p in problems { out += "            - \(p)\n" }
        for (i, s) in sources.enumerated() {
            var line = "\(s.kind == "journal" ? "journal " + s.name : s.name): \(s.state)"
            if let b = s.lagBytes, b > 0 { line += ", \(Self.grouped(Int(b))) bytes behind" }
            if s.lagSeconds > 0 { line += ", \(Self.span(Int(s.lagSeconds))) behind" }
            if let t = s.lastEntry { line += ", newest entry \(t)" }
            out += (i == 0 ? "  Sources:  " : "            ") + line + "\n"
        }
        if sources.isEmpty { out += "  Sources:  none configured\n" }
        out += "  Lines:    \(Self.grouped(lines.total)) read (Postfix \(Self.grouped(lines.postfix)), Exim \(Self.grouped(lines.exim)), other programs \(Self.grouped(lines.otherPrograms))), \(Self.grouped(Int(lines.perSecond.rounded())))/s now"
        if lines.unrecognised > 0 || lines.oversized > 0 {
            out += "; \(Self.grouped(lines.unrecognised)) unrecognised, \(Self.grouped(lines.oversized)) too long"
        }
        if lines.timeOutliers > 0 {
            out += "; \(Self.grouped(lines.timeOutliers)) dated in the future, not tracked (a wrong clock?)"
        }
        out += "\n"
        out += "  Attempts: \(Self.grouped(attempts.total)) (sent \(Self.grouped(attempts.sent ?? 0)), deferred \(Self.grouped(attempts.deferred)), bounced \(Self.grouped(attempts.bounced ?? 0)), expired \(Self.grouped(attempts.expired ?? 0)))\n"
        if let q = queue {
            out += "  Queue:    \(Self.grouped(q.messages)) message\(q.messages == 1 ? "" : "s") waiting on a deferred recipient"
            if let o = q.oldestAge { out += ", oldest \(QueueView.age(o))" }
            if let e = q.expiresIn { out += e >= 0 ? ", first expiry in \(QueueView.age(e))" : ", overdue by \(QueueView.age(-e))" }
            if q.atRisk > 0 { out += "; \(Self.grouped(q.atRisk)) AT RISK of expiring" }
            if q.dropped > 0 { out += "; \(Self.grouped(q.dropped)) not followed (max_messages)" }
            out += " (deferwatch status queue)\n"
        }
        out += "  Syslog:   \(Self.grouped(syslog.sent)) lines written to \(syslog.socket)"
        if syslog.dropped > 0 { out += ", \(Self.grouped(syslog.dropped)) DROPPED" }
        if syslog.queued > 0 { out += ", \(syslog.queued) waiting" }
        out += "\n"
        if let e = state.error {
            out += "  State:    CANNOT SAVE checkpoints in \(state.directory): \(e)\n"
        } else if let age = state.checkpointAgeSeconds {
            out += "  State:    saved \(Self.span(Int(age))) ago in \(state.directory)\n"
        }
        if let w = state.warning { out += "  State:    WARNING: \(w)\n" }
        if let t = logTime {
            out += "  Log time: \(t)"
            if let w = windowEnd, w != t { out += " (quiet since; windows end \(w))" }
            out += "\n"
        }
        out += "\n"
        out += Self.alertsText(alerts)
        out += "\n"
        out += Self.destinationsText(destinations, window: window)
        return out
    }

    /// The open alerts, most severe first.
    public static func alertsText(_ alerts: [AlertStatus], detailed: Bool = false) -> String {
        guard !alerts.isEmpty else { return "No open alerts.\n" }
        let order = ["critical": 0, "error": 1, "warning": 2, "notice": 3]
        var out = "Open alerts (\(alerts.count)):\n"
        for a in alerts.sorted(by: { (order[$0.severity] ?? 9, $0.id) < (order[$1.severity] ?? 9, $1.id) }) {
            out += "  #\(a.id) \(a.severity.uppercased()) \(a.cause) on \(a.scope) \(a.key)\(a.host.map { " from \($0)" } ?? "") since \(a.openedAt)\n"
            out += "     \(a.summary)\n"
            out += "     \(grouped(a.deferrals)) deferrals of \(grouped(a.attempts)) attempts, \(grouped(a.recipients)) recipients\(a.expired > 0 ? ", \(grouped(a.expired)) expired" : ""), last \(a.lastSeen)\n"
            if detailed {
                if let p = a.provider { out += "     provider: \(p)\n" }
                if let r = a.relay { out += "     relay:    \(r)\n" }
                if let s = a.senders, !s.isEmpty { out += "     senders:  \(s.joined(separator: ", "))\n" }
                if !a.sample.isEmpty { out += "     sample:   \(a.sample)\n" }
            }
            out += "     fix: \(a.hint)\n"
            if let f = a.fix {
                out += "     config fix (deferwatch suggest \(a.id)): \(f.summary)\n"
                if detailed {
                    for line in f.snippet.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
                        out += line.isEmpty ? "       |\n" : "       | \(line)\n"
                    }
                }
            }
            if let c = a.checks {
                out += "     checked \(c.checkedAt): \(c.verdict): \(c.note)\n"
                if detailed {
                    for i in c.identity { out += "       identity: \(i)\n" }
                    for f in c.findings {
                        out += "       \(f.verdict) \(f.check) \(f.subject): \(f.summary)\n"
                        for e in f.evidence { out += "           seen: \(e)\n" }
                        if let fix = f.fix { out += "           fix:  \(fix)\n" }
                    }
                } else {
                    out += "       \(c.short)\n"
                }
            }
        }
        return out
    }

    /// A table of deferring destinations.
    public static func destinationsText(_ list: [DestinationStatus], window: String) -> String {
        guard !list.isEmpty else { return "Nothing deferring in the last \(window).\n" }
        var rows: [[String]] = [["DESTINATION", "PROVIDER", "DEFERRALS", "ATTEMPTS", "SHARE", "CAUSES"]]
        for d in list {
            let name = "\(d.scope) \(d.key)" + (d.host.map { " @\($0)" } ?? "")
            let causes = d.causes.map { "\($0.cause) \($0.deferrals)" }.joined(separator: ", ")
            rows.append([name, d.provider ?? "-", grouped(d.attempts.deferred), grouped(d.attempts.total),
                         "\(Int((d.deferredShare * 100).rounded()))%", causes + (d.alerts.isEmpty ? "" : "  [alert \(d.alerts.map { "#\($0)" }.joined(separator: ", "))]")])
        }
        var widths = [Int](repeating: 0, count: rows[0].count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        var out = "Deferring in the last \(window), most first:\n"
        for r in rows {
            var line = "  "
            for (i, c) in r.enumerated() {
                let pad = String(repeating: " ", count: widths[i] - c.count)
                line += (i >= 2 && i <= 4) ? pad + c : c + (i == r.count - 1 ? "" : pad)
                if i < r.count - 1 { line += "  " }
            }
            out += line + "\n"
        }
        return out
    }

    /// One destination in detail.
    public static func detailText(_ d: DestinationDetail) -> String {
        var out = ""
        for x in d.destinations {
            out += "\(x.scope) \(x.key)\(x.host.map { " from \($0)" } ?? "")\(x.provider.map { " (provider \($0))" } ?? ""), last \(d.window):\n"
            out += "  \(grouped(x.attempts.deferred)) deferrals of \(grouped(x.attempts.total)) attempts (\(Int((x.deferredShare * 100).rounded()))%)\(x.firstDeferral.map { ", first at \($0)" } ?? "")\n"
            for c in x.causes { out += "    \(c.cause): \(grouped(c.deferrals)) deferrals, \(grouped(c.messages)) messages\n" }
            if !x.sample.isEmpty { out += "  sample: \(x.sample)\n" }
        }
        if d.destinations.isEmpty { out += "\(d.name): no deferrals in the last \(d.window).\n" }
        out += "\n" + alertsText(d.alerts, detailed: true)
        return out
    }

    static func span(_ seconds: Int) -> String {
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m \(seconds % 60)s" }
        if seconds < 86400 { return "\(seconds / 3600)h \(seconds % 3600 / 60)m" }
        return "\(seconds / 86400)d \(seconds % 86400 / 3600)h"
    }

    static func grouped(_ n: Int) -> String {
        let s = String(n.magnitude)
        var out = ""
        for (i, ch) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out += "," }
            out.append(ch)
        }
        return n < 0 ? "-" + out : out
    }
}
