extension DeliveryEvent {
    /// The event as one JSON object (the `analyze --events` line, without the newline).
    /// Field order is fixed; the schema is documented in the README.
    public func writeJSON(to w: JSONWriter) {
        w.beginValue()
        w.fragment("{\"time\":"); w.rawTime(time)
        w.fragment(",\"mta\":"); w.rawString(mta.rawValue)
        w.fragment(",\"host\":"); w.rawString(host)
        w.fragment(",\"queue_id\":"); w.rawString(queueID)
        w.fragment(",\"recipient\":"); w.rawString(recipient)
        w.fragment(",\"domain\":"); w.rawString(domain)
        w.fragment(",\"status\":"); w.rawString(status.rawValue)
        w.fragment(",\"relay\":"); w.rawString(relay)
        w.fragment(",\"relay_ip\":"); w.rawString(relayIP)
        w.fragment(",\"dsn\":"); w.rawString(dsn)
        w.fragment(",\"code\":"); w.rawInt(code)
        w.fragment(",\"stage\":"); w.rawString(stage?.rawValue)
        if let cause {
            w.fragment(",\"cause\":"); w.rawString(cause.rawValue)
            w.fragment(",\"origin\":"); w.rawString(cause.origin.rawValue)
            w.fragment(",\"rule\":"); w.rawString(rule)
            w.fragment(",\"confidence\":"); w.rawString(confidence?.rawValue)
            w.fragment(",\"inherited\":"); w.rawBool(inherited)
        } else {
            // Most events are deliveries: their five classification fields in one piece.
            w.fragment(",\"cause\":null,\"origin\":null,\"rule\":null,\"confidence\":null,\"inherited\":false")
        }
        w.fragment(",\"provider\":"); w.rawString(provider)
        w.fragment(",\"text\":"); w.rawString(text)
        w.fragment("}")
    }
}
