import DeferWatchCore

/// Where alert transitions go. Writing never blocks the pipeline for long: a sink that can
/// stall (syslog) queues and retries on its own.
public protocol AlertSink: AnyObject {
    func write(_ t: AlertTransition)
    /// What an alert's DNS checks found (`alert`: the alert, when still open).
    func write(check: ClaimCheck, alert: Alert?)
}

extension AlertSink {
    public func write(check: ClaimCheck, alert: Alert?) {}
}

/// One JSON object per transition, one per line (stdout or a file).
public final class JSONLinesAlertSink: AlertSink {
    private let writer: FDWriter
    private let w = JSONWriter()

    public init(writer: FDWriter) { self.writer = writer }

    public func write(_ t: AlertTransition) {
        w.reset()
        t.writeJSON(to: w)
        w.newline()
        w.withBytes { writer.write($0) }
    }

    public func write(check: ClaimCheck, alert: Alert?) {
        w.reset()
        check.writeJSON(to: w, alert: alert)
        w.newline()
        w.withBytes { writer.write($0) }
    }
}

/// `TIME key=value ...` per transition, as `analyze --alerts` prints without --json.
public final class TextAlertSink: AlertSink {
    private let writer: FDWriter

    public init(writer: FDWriter) { self.writer = writer }

    public func write(_ t: AlertTransition) {
        writer.write(CivilTime.rfc3339(t.time) + " " + t.logLine + "\n")
    }

    public func write(check: ClaimCheck, alert: Alert?) {
        writer.write(CivilTime.rfc3339(check.time) + " " + check.logLine(alert: alert) + "\n")
    }
}
