extension ClaimCheck {
    /// The `alert=checked` line written to syslog when an alert's checks are done: the
    /// alert's id, cause and key, `checks=` in short form, the verdict on the claim, the
    /// sentence, the identity checked and the first problem's fix.
    public func logLine(alert a: Alert?) -> String {
        var parts: [String] = []
        func add(_ k: String, _ v: String?) { parts.append("\(k)=\(AlertTransition.quote(v ?? "-"))") }
        add("alert", "checked")
        add("id", String(alertID))
        add("severity", a?.severity.rawValue)
        add("cause", cause.rawValue)
        if let a {
            add("scope", a.key.scope.rawValue)
            add("key", a.key.name)
        }
        add("checks", short)
        add("verdict", verdict.rawValue)
        add("identity", identity.learned.isEmpty ? nil : identity.learned.joined(separator: "; "))
        add("summary", note)
        if let fix = findings.first(where: { $0.verdict == .problem && $0.fix != nil })?.fix { add("fix", fix) }
        return parts.joined(separator: " ")
    }

    /// One JSON object: what the JSON-lines sink prints for a check (`state: checked`).
    public func writeJSON(to w: JSONWriter, alert a: Alert?) {
        w.beginObject()
        w.key("time"); w.time(time)
        w.key("id"); w.int(alertID)
        w.key("state"); w.string("checked")
        w.key("cause"); w.string(cause.rawValue)
        w.key("key"); w.string(a?.key.name)
        w.key("checks"); w.string(short)
        w.key("verdict"); w.string(verdict.rawValue)
        w.key("note"); w.string(note)
        w.key("identity")
        w.beginArray()
        for l in identity.learned { w.string(l) }
        w.endArray()
        w.key("findings")
        w.beginArray()
        for f in findings { f.writeJSON(to: w) }
        w.endArray()
        w.endObject()
    }
}
