extension StatusReport {
    /// The Prometheus text exposition format (version 0.0.4). Label values are bounded:
    /// MTAs, statuses, causes, severities, the providers of the rules, the configured
    /// sources, and at most `topDomains` recipient domains (the most deferred now).
    public func prometheusText(topDomains: Int) -> String {
        var out = ""
        out.reserveCapacity(8192)
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Double) {
            out += name
            if !labels.isEmpty {
                out += "{" + labels.map { "\($0.0)=\"\(Self.escapeLabel($0.1))\"" }.joined(separator: ",") + "}"
            }
            out += " " + Self.number(value) + "\n"
        }

        family("deferwatch_build_info", "gauge", "The running deferwatch's version.")
        sample("deferwatch_build_info", [("version", version)], 1)
        family("deferwatch_uptime_seconds", "gauge", "Seconds since the daemon started.")
        sample("deferwatch_uptime_seconds", [], Double(uptimeSeconds))

        family("deferwatch_lines_total", "counter", "Log lines and journal entries read, by the program that wrote them.")
        sample("deferwatch_lines_total", [("program", "postfix")], Double(lines.postfix))
        sample("deferwatch_lines_total", [("program", "exim")], Double(lines.exim))
        sample("deferwatch_lines_total", [("program", "other")], Double(lines.otherPrograms))
        sample("deferwatch_lines_total", [("program", "deferwatch")], Double(lines.own))
        family("deferwatch_unrecognised_lines_total", "counter", "Lines without a timestamp or header deferwatch knows (counted and skipped).")
        sample("deferwatch_unrecognised_lines_total", [], Double(lines.unrecognised))
        family("deferwatch_oversized_lines_total", "counter", "Lines skipped for being longer than 64 KiB.")
        sample("deferwatch_oversized_lines_total", [], Double(lines.oversized))
        family("deferwatch_time_outliers_total", "counter", "Delivery lines dated in the future that the alert tracker did not take (a wrong clock).")
        sample("deferwatch_time_outliers_total", [], Double(lines.timeOutliers))

        family("deferwatch_attempts_total", "counter", "Delivery attempts since the daemon started, by MTA and status.")
        for a in attemptsByMta { sample("deferwatch_attempts_total", [("mta", a.mta), ("status", a.status)], Double(a.count)) }
        family("deferwatch_deferrals_total", "counter", "Deferrals since the daemon started, by provider (none: not a known provider) and cause.")
        for d in deferrals { sample("deferwatch_deferrals_total", [("provider", d.provider), ("cause", d.cause)], Double(d.count)) }

        family("deferwatch_domain_deferrals", "gauge", "Deferrals in the current window of the most deferred recipient domains, by cause.")
        let domains = destinations.filter { $0.scope == "domain" && $0.host == nil }.prefix(topDomains)
        for d in domains {
            for c in d.causes { sample("deferwatch_domain_deferrals", [("domain", d.key), ("cause", c.cause)], Double(c.deferrals)) }
        }

        family("deferwatch_open_alerts", "gauge", "Alerts open now, by cause and severity.")
        for cause in Cause.allCases {
            for sev in Severity.allCases where sev != .notice {
                let n = alerts.filter { $0.cause == cause.rawValue && $0.severity == sev.rawValue }.count
                sample("deferwatch_open_alerts", [("cause", cause.rawValue), ("severity", sev.rawValue)], Double(n))
            }
        }

        family("deferwatch_claim_checks_total", "counter", "Alerts whose claim was checked in DNS, by what the checks say of it.")
        for v in ["confirmed", "contradicted", "undecided"] {
            sample("deferwatch_claim_checks_total", [("verdict", v)], Double(checks?.claims[v] ?? 0))
        }
        family("deferwatch_check_findings_total", "counter", "Findings of the DNS checks of alerts, by check and verdict.")
        for c in checks?.findings ?? [] {
            sample("deferwatch_check_findings_total", [("check", c.check), ("verdict", c.verdict)], Double(c.count))
        }
        family("deferwatch_checks_dropped_total", "counter", "Alerts not checked in DNS because too many waited for their checks.")
        sample("deferwatch_checks_dropped_total", [], Double(checks?.dropped ?? 0))

        if let q = queue {
            family("deferwatch_queue_messages", "gauge", "Messages waiting on a deferred recipient, as the logs show the queue.")
            sample("deferwatch_queue_messages", [], Double(q.messages))
            family("deferwatch_queue_oldest_age_seconds", "gauge", "Age of the oldest message waiting on a deferred recipient.")
            sample("deferwatch_queue_oldest_age_seconds", [], Double(q.oldestAge ?? 0))
            family("deferwatch_queue_at_risk_messages", "gauge", "Deferred messages within at_risk_before of expiring.")
            sample("deferwatch_queue_at_risk_messages", [], Double(q.atRisk))
            family("deferwatch_queue_dropped_total", "counter", "Deferred messages not followed because max_messages were.")
            sample("deferwatch_queue_dropped_total", [], Double(q.dropped))
            family("deferwatch_queue_provider_messages", "gauge", "Deferred messages by provider and cause.")
            for r in q.providers { sample("deferwatch_queue_provider_messages", [("provider", r.name), ("cause", r.cause.rawValue)], Double(r.messages)) }
            family("deferwatch_queue_provider_oldest_age_seconds", "gauge", "Age of the oldest deferred message by provider and cause.")
            for r in q.providers { sample("deferwatch_queue_provider_oldest_age_seconds", [("provider", r.name), ("cause", r.cause.rawValue)], Double(r.oldestAge)) }
            family("deferwatch_queue_domain_messages", "gauge", "Deferred messages of the most queued recipient domains, by cause.")
            for r in q.topDomains { sample("deferwatch_queue_domain_messages", [("domain", r.name), ("cause", r.cause.rawValue)], Double(r.messages)) }
        }

        family("deferwatch_source_lag_seconds", "gauge", "How far each source is behind its newest entry, in seconds of log time.")
        for s in sources { sample("deferwatch_source_lag_seconds", [("source", s.name)], s.lagSeconds) }
        family("deferwatch_source_lag_bytes", "gauge", "Bytes written to a followed file and not read yet.")
        for s in sources { if let b = s.lagBytes { sample("deferwatch_source_lag_bytes", [("source", s.name)], Double(b)) } }

        family("deferwatch_syslog_sent_total", "counter", "Alert lines written to syslog.")
        sample("deferwatch_syslog_sent_total", [], Double(syslog.sent))
        family("deferwatch_syslog_dropped_total", "counter", "Alert lines dropped because syslog stayed unavailable and the queue was full.")
        sample("deferwatch_syslog_dropped_total", [], Double(syslog.dropped))
        family("deferwatch_syslog_queued", "gauge", "Alert lines waiting for syslog.")
        sample("deferwatch_syslog_queued", [], Double(syslog.queued))

        family("deferwatch_checkpoint_age_seconds", "gauge", "Seconds since positions were last saved.")
        sample("deferwatch_checkpoint_age_seconds", [], state.checkpointAgeSeconds ?? -1)
        family("deferwatch_state_error", "gauge", "1 while checkpoints cannot be saved.")
        sample("deferwatch_state_error", [], state.error == nil ? 0 : 1)
        family("deferwatch_journal_entries_unreadable_total", "counter", "Journal entries passed over because they could not be read (a damaged journal file).")
        sample("deferwatch_journal_entries_unreadable_total", [], Double(sources.reduce(0) { $0 + ($1.unreadable ?? 0) }))
        family("deferwatch_config_reload_failed", "gauge", "1 while the last configuration reload failed (the earlier configuration runs on).")
        sample("deferwatch_config_reload_failed", [], configError == nil ? 0 : 1)
        family("deferwatch_health_problems", "gauge", "Problems the status lists under Health (0: healthy).")
        sample("deferwatch_health_problems", [], Double(problems.count))
        family("deferwatch_tracked_destinations", "gauge", "Destination keys with a window in memory.")
        sample("deferwatch_tracked_destinations", [], Double(trackedDestinations))
        return out
    }

    static func escapeLabel(_ v: String) -> String {
        var out = ""
        for c in v.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func number(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }
}
