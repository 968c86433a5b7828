extension DeliveryEvent {
    /// The event as one JSON object (the `analyze --events` line, without the newline).
    /// Field order is fixed; the schema is documented in the README.
    public func writeJSON(to w: JSONWriter) {
        w.beginObject()
        w.key("time"); w.time(time)
        w.key("mta"); w.string(mta.rawValue)
        w.key("host"); w.string(host)
        w.key("queue_id"); w.string(queueID)
        w.key("recipient"); w.string(recipient)
        w.key("domain"); w.string(domain)
        w.key("status"); w.string(status.rawValue)
        w.key("relay"); w.string(relay)
        w.key("relay_ip"); w.string(relayIP)
        w.key("dsn"); w.string(dsn)
        w.key("code"); w.int(code)
        w.key("stage"); w.string(stage?.rawValue)
        w.key("cause"); w.string(cause?.rawValue)
        w.key("rule"); w.string(rule)
        w.key("inherited"); w.bool(inherited)
        w.key("provider"); w.string(provider)
        w.key("text"); w.string(text)
        w.endObject()
    }
}
