#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore

/// What the runner says (the line at the start, the status line for systemd) and the
/// reload on SIGHUP.
extension DaemonRunner {
    /// One line on stderr at the start: what is read, where alerts go, and whether they
    /// can get there.
    func sayWhatIsFollowed() {
        var read = sources.described
        if read.isEmpty { read = ["following nothing (no [sources] files, journal = false)"] }
        let sys = loaded.config.syslog
        var alerts = "alerts go to syslog at \(sys.socket) (facility \(sys.facility))"
        if let problem = SyslogSink.probe(sys.socket) {
            alerts += ": not available (\(problem)); they wait, up to \(sys.queue), and are retried"
        }
        let status = loaded.config.status.socket.isEmpty ? "" : "; status on \(loaded.config.status.socket)"
        writeStderr("deferwatch: " + read.joined(separator: ", ") + "; " + alerts + status)
    }

    func reload() {
        services.notify("RELOADING=1")
        do {
            let fresh = try ConfigLoader.load(path: options.configPath ?? loaded.path)
            engine.reconfigure(rules: fresh.rules, tracker: fresh.config.tracker, hints: fresh.hints,
                               queue: Self.queueConfig(fresh.config, services: services))
            if fresh.config.status != loaded.config.status || fresh.config.sources != loaded.config.sources
                || fresh.config.stateDirectory != loaded.config.stateDirectory || fresh.config.syslog != loaded.config.syslog
                || fresh.config.queue.enabled != loaded.config.queue.enabled {
                writeStderr("deferwatch: changes to [sources], [state], [status], [syslog] and [queue] enabled take effect at the next restart")
            }
            let recheck = fresh.config.checks != loaded.config.checks || fresh.config.dns != loaded.config.dns
                || fresh.config.identity != loaded.config.identity
            loaded = LoadedConfig(path: fresh.path, config: fresh.config, rules: fresh.rules, hints: fresh.hints)
            if recheck { startChecker() }
            writeStderr("deferwatch: configuration reloaded from \(fresh.path ?? "built-in defaults")")
            reloadError = nil
        } catch {
            reloadError = "\(error)"
            // A bad new configuration is reported; the old one keeps running.
            writeStderr("deferwatch: configuration not reloaded, keeping the running one:\n\(error)")
            sink.enqueueProblem("config-error", "configuration not reloaded: \(error)")
        }
        services.notify("READY=1\nSTATUS=\(statusLine())")
    }

    func statusLine() -> String {
        let c = engine.counters
        var s = "\(c.lines) lines, \(c.deliveries) attempts, \(tracker.openAlertCount) alerts open"
        if let e = state.error { s += "; CANNOT SAVE STATE: \(e)" }
        let drops = sink.currentStats.dropped
        if drops > 0 { s += "; \(drops) syslog lines dropped" }
        return s
    }
}

extension DaemonRunner {
    /// The queue's configuration, with Postfix's own `maximal_queue_lifetime` when the
    /// configuration does not set one and `postconf` answers.
    static func queueConfig(_ c: DeferWatchConfig, services: DaemonServices) -> QueueConfig {
        var q = c.queue
        if q.enabled, !q.postfixLifetimeConfigured, let v = services.postfixQueueLifetime() { q.postfixLifetime = v }
        return q
    }
}
