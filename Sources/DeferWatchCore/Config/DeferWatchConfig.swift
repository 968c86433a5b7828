import TOMLKit

/// Where and how alerts go to syslog.
public struct SyslogConfig: Sendable, Equatable {
    public enum Format: String, Sendable { case rfc3164, rfc5424 }
    public var socket = "/dev/log"
    public var facility = "mail"
    public var identifier = "deferwatch"
    public var format = Format.rfc3164
    public var queue = 1000
    /// The queue's bound in bytes as well (the oldest are dropped first).
    public var queueBytes = 4 << 20

    public init() {}

    /// Syslog facility numbers.
    public static let facilities: [String: Int] = [
        "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
        "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
        "local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
    ]

    public var facilityNumber: Int { Self.facilities[facility] ?? 2 }
}

/// What `deferwatch run` follows, and where it starts.
public struct SourcesConfig: Sendable, Equatable {
    /// Follow the journal.
    public var journal = true
    /// A journal directory (such as /var/log/journal/remote); nil: the local system journal.
    public var journalDirectory: String?
    /// Log files to follow.
    public var files: [String] = []
    /// With no checkpoint yet: start at the end of the logs, or this far back (to warm the windows).
    public var lookback: Int64 = 0
    /// How often files are checked for new lines (the journal wakes deferwatch itself).
    public var pollInterval: Int64 = 250_000
    /// How long a rotated-away file must have been quiet before it is closed (a writer
    /// that reopens its log late, rsyslog before its HUP, is read on until then).
    public var rotatedQuiet: Int64 = 10_000_000

    public init() {}
}

/// The status socket (`deferwatch status`, HTTP with JSON) and the metrics.
public struct StatusConfig: Sendable, Equatable {
    /// The Unix socket; empty: no status socket.
    public var socket = "/run/deferwatch/status.sock"
    /// The socket file's permission bits, applied exactly (never widened).
    public var socketMode: UInt16 = 0o660
    /// The socket file's group (name or number); empty: the daemon's own group.
    public var socketGroup = ""
    /// A TCP port on 127.0.0.1 serving only /metrics; 0: off.
    public var metricsPort = 0
    /// Recipient domains that get a metrics label of their own (the most deferred).
    public var metricsTopDomains = 10
    /// Destinations kept in a status snapshot (the most deferred first).
    public var maxDestinations = 1000
    /// Clients served at once; more are closed at once.
    public var maxClients = 256
    /// A request must arrive complete within this time.
    public var requestTimeout: Int64 = 5_000_000
    /// What the daemon keeps of recent mail lines for `deferwatch status trace`, in bytes
    /// (the oldest lines are forgotten first); 0: none kept.
    public var traceBytes = 16 << 20

    public init() {}
}

/// The whole configuration (Config/deferwatch.toml documents every key).
public struct DeferWatchConfig: Sendable, Equatable {
    public var tracker = TrackerConfig()
    public var syslog = SyslogConfig()
    public var sources = SourcesConfig()
    public var status = StatusConfig()
    public var dns = DNSConfig()
    public var identity = IdentityConfig()
    public var checks = ChecksConfig()
    public var queue = QueueConfig()
    /// Checkpoints and open alerts live here.
    public var stateDirectory = "/var/lib/deferwatch"
    /// A small file outside the state directory that says a run saved state there (so a
    /// removed state directory is not taken for a first start); nil: the default
    /// (`stateMarkerPath`), empty: none.
    public var stateMarker: String?
    /// How often checkpoints are written (and at shutdown).
    public var checkpointEvery: Int64 = 5_000_000
    public var ruleFiles: [String] = []
    public var hintFiles: [String] = []

    public init() {}

    /// Where the state marker is: as configured, or `/var/cache/deferwatch/state-marker`
    /// for the default state directory (the unit's CacheDirectory), or the state
    /// directory's own path with `.marker` added. Nil: no marker.
    public var stateMarkerPath: String? {
        if let m = stateMarker { return m.isEmpty ? nil : m }
        if stateDirectory == "/var/lib/deferwatch" { return "/var/cache/deferwatch/state-marker" }
        var d = stateDirectory
        while d.count > 1 && d.hasSuffix("/") { d.removeLast() }
        return d + ".marker"
    }

    /// The documented default configuration (Config/deferwatch.toml, compiled in).
    public static var defaultText: String { String(decoding: PackageResources.deferwatch_toml, as: UTF8.self) }

    /// Parses a configuration file; every problem is reported with file:line.
    public static func parse(name: String, text: String) throws(ConfigErrors) -> DeferWatchConfig {
        let source = try TOMLSource(name: name, text: text)
        var problems: [ConfigProblem] = []
        var c = DeferWatchConfig()
        var top = TOMLReader(source: source, table: source.table) { source.line(ofSection: nil, key: $0) }
        let alerts = top.subtable("alerts")
        let syslog = top.subtable("syslog")
        let classify = top.subtable("classify")
        let sources = top.subtable("sources")
        let state = top.subtable("state")
        let status = top.subtable("status")
        let dns = top.subtable("dns")
        let identity = top.subtable("identity")
        let checks = top.subtable("checks")
        let queue = top.subtable("queue")
        top.rejectUnknownKeys(context: "the configuration")
        problems += top.problems

        if let alerts {
            var r = TOMLReader(source: source, table: alerts) { source.line(ofSection: "alerts", key: $0) }
            if let v = r.duration("window") { c.tracker.window = v }
            if let v = r.duration("bucket") { c.tracker.bucket = v }
            if let v = r.duration("remind_every") { c.tracker.remindEvery = v }
            if let v = r.duration("clock_leap") { c.tracker.clockLeap = v }
            if let v = r.int("stale_factor") { c.tracker.staleFactor = Int64(v) }
            if let v = r.int("greylisting_repeats") { c.tracker.greylistingRepeats = v }
            if let v = r.duration("recurrence_period") { c.tracker.recurrencePeriod = v }
            if let v = r.int("max_tracked_keys") { c.tracker.maxKeys = v }
            if let v = r.int("max_open_alerts") {
                if v < 10 || v > 1_000_000 { r.problem("max_open_alerts", "max_open_alerts must be between 10 and 1000000") }
                c.tracker.maxOpenAlerts = v
            }
            if let v = r.int("max_tracked_messages") { c.tracker.maxMessages = v }
            if c.tracker.bucket <= 0 || c.tracker.window < c.tracker.bucket { r.problem("window", "window must be at least one bucket long") }
            if c.tracker.window / max(1, c.tracker.bucket) > 1440 { r.problem("bucket", "at most 1440 buckets per window") }
            if c.tracker.maxKeys < 100 { r.problem("max_tracked_keys", "max_tracked_keys must be at least 100") }
            if c.tracker.maxMessages < 100 { r.problem("max_tracked_messages", "max_tracked_messages must be at least 100") }
            if c.tracker.staleFactor < 1 { r.problem("stale_factor", "stale_factor must be at least 1") }
            if c.tracker.clockLeap < TrackerConfig.minute { r.problem("clock_leap", "clock_leap must be at least 1m") }
            if let d = r.subtable("default") {
                c.tracker.defaults = thresholds(d, base: c.tracker.defaults, section: "alerts.default", source, &problems)
            }
            if let causes = r.subtable("cause") {
                for name in causes.keys {
                    guard let cause = Cause(rawValue: name) else {
                        problems.append(ConfigProblem(file: source.name, line: source.line(ofSection: "alerts.cause.\(name)", key: nil),
                                                      message: "unknown cause \"\(name)\" in [alerts.cause]"))
                        continue
                    }
                    guard let t = causes[name]?.table else { continue }
                    let base = c.tracker.perCause[cause] ?? c.tracker.defaults
                    c.tracker.perCause[cause] = thresholds(t, base: base, section: "alerts.cause.\(name)", source, &problems)
                }
            }
            r.rejectUnknownKeys(context: "[alerts]")
            problems += r.problems
        }
        if let syslog {
            var r = TOMLReader(source: source, table: syslog) { source.line(ofSection: "syslog", key: $0) }
            if let v = r.string("socket") { c.syslog.socket = v }
            if let v = r.string("facility") {
                if SyslogConfig.facilities[v] == nil { r.problem("facility", "unknown facility \"\(v)\" (mail, daemon, user, local0 .. local7, ...)") }
                c.syslog.facility = v
            }
            if let v = r.string("identifier") {
                if v.isEmpty || v.contains(" ") || v.count > 48 { r.problem("identifier", "identifier must be 1-48 characters without spaces") }
                c.syslog.identifier = v
            }
            if let v = r.string("format") {
                if let f = SyslogConfig.Format(rawValue: v) { c.syslog.format = f } else { r.problem("format", "format must be rfc3164 or rfc5424") }
            }
            if let v = r.int("queue") {
                if v < 1 { r.problem("queue", "queue must be at least 1") }
                c.syslog.queue = v
            }
            if let v = r.int("queue_bytes") {
                if v < 16_384 || v > 1 << 30 { r.problem("queue_bytes", "queue_bytes must be between 16384 and 1073741824") }
                c.syslog.queueBytes = v
            }
            r.rejectUnknownKeys(context: "[syslog]")
            problems += r.problems
        }
        if let sources {
            var r = TOMLReader(source: source, table: sources) { source.line(ofSection: "sources", key: $0) }
            if let v = r.bool("journal") { c.sources.journal = v }
            if let v = r.string("journal_directory") { c.sources.journalDirectory = v.isEmpty ? nil : v }
            if let v = r.strings("files") { c.sources.files = v }
            if let v = r.duration("lookback") { c.sources.lookback = v }
            if let v = r.duration("poll_interval") {
                if v < 10_000 { r.problem("poll_interval", "poll_interval must be at least 10ms") }
                c.sources.pollInterval = v
            }
            if let v = r.duration("rotated_quiet") {
                if v > 86_400_000_000 { r.problem("rotated_quiet", "rotated_quiet must be at most 24h") }
                c.sources.rotatedQuiet = v
            }
            r.rejectUnknownKeys(context: "[sources]")
            problems += r.problems
        }
        if let state {
            var r = TOMLReader(source: source, table: state) { source.line(ofSection: "state", key: $0) }
            if let v = r.string("directory") { c.stateDirectory = v }
            if let v = r.duration("checkpoint_every") { c.checkpointEvery = v }
            if let v = r.string("marker") { c.stateMarker = v }
            r.rejectUnknownKeys(context: "[state]")
            problems += r.problems
        }
        if let status {
            var r = TOMLReader(source: source, table: status) { source.line(ofSection: "status", key: $0) }
            if let v = r.string("socket") {
                if !v.isEmpty && !v.hasPrefix("/") { r.problem("socket", "socket must be an absolute path (or empty: no status socket)") }
                if v.utf8.count > 107 { r.problem("socket", "socket path is longer than the 107 bytes a Unix socket allows") }
                c.status.socket = v
            }
            if let v = r.string("socket_mode") {
                if let m = UInt16(v, radix: 8), m <= 0o777 { c.status.socketMode = m } else {
                    r.problem("socket_mode", "socket_mode must be octal permission bits like \"0660\"")
                }
            }
            if let v = r.string("socket_group") { c.status.socketGroup = v }
            if let v = r.int("metrics_port") {
                if v < 0 || v > 65535 { r.problem("metrics_port", "metrics_port must be 0 (off) or a TCP port") }
                c.status.metricsPort = v
            }
            if let v = r.int("metrics_top_domains") {
                if v < 0 || v > 1000 { r.problem("metrics_top_domains", "metrics_top_domains must be between 0 and 1000") }
                c.status.metricsTopDomains = v
            }
            if let v = r.int("max_destinations") {
                if v < 1 || v > 100_000 { r.problem("max_destinations", "max_destinations must be between 1 and 100000") }
                c.status.maxDestinations = v
            }
            if let v = r.int("max_clients") {
                if v < 1 || v > 10_000 { r.problem("max_clients", "max_clients must be between 1 and 10000") }
                c.status.maxClients = v
            }
            if let v = r.duration("request_timeout") {
                if v < 100_000 { r.problem("request_timeout", "request_timeout must be at least 100ms") }
                c.status.requestTimeout = v
            }
            if let v = r.int("trace_bytes") {
                if v != 0 && (v < 65_536 || v > 1 << 32) { r.problem("trace_bytes", "trace_bytes must be 0 (off) or between 65536 and 4294967296") }
                c.status.traceBytes = v
            }
            r.rejectUnknownKeys(context: "[status]")
            problems += r.problems
        }
        if let dns { parseDNS(dns, source, into: &c, &problems) }
        if let identity { parseIdentity(identity, source, into: &c, &problems) }
        if let checks { parseChecks(checks, source, into: &c, &problems) }
        if let queue { parseQueue(queue, source, into: &c, &problems) }
        if let classify {
            var r = TOMLReader(source: source, table: classify) { source.line(ofSection: "classify", key: $0) }
            c.ruleFiles = r.strings("rules") ?? []
            c.hintFiles = r.strings("hints") ?? []
            r.rejectUnknownKeys(context: "[classify]")
            problems += r.problems
        }
        if !problems.isEmpty { throw ConfigErrors(problems) }
        return c
    }

    private static func thresholds(_ t: TOMLTable, base: CauseThresholds, section: String, _ source: TOMLSource,
                                   _ problems: inout [ConfigProblem]) -> CauseThresholds {
        var r = TOMLReader(source: source, table: t) { source.line(ofSection: section, key: $0) }
        var th = base
        if let v = r.int("min_deferrals") { th.minDeferrals = v; if v < 1 { r.problem("min_deferrals", "min_deferrals must be at least 1") } }
        if let v = r.int("min_messages") { th.minMessages = v; if v < 1 { r.problem("min_messages", "min_messages must be at least 1") } }
        if let v = r.double("min_share") { th.minShare = v; if v < 0 || v > 1 { r.problem("min_share", "min_share must be between 0 and 1") } }
        if let v = r.duration("escalate_after") { th.escalateAfter = v }
        if let v = r.duration("resolve_after") { th.resolveAfter = v }
        if let v = r.bool("enabled") { th.enabled = v }
        r.rejectUnknownKeys(context: "[\(section)]")
        problems += r.problems
        return th
    }
}

extension TOMLReader {
    /// A duration: "30s", "15m", "2h", "1d", or a number of seconds. Microseconds.
    mutating func duration(_ key: String) -> Int64? {
        if table[key]?.int != nil, let s = int(key) {
            if s < 0 { problem(key, "\(key) must not be negative") }
            guard let d = Self.scaled(Int64(s), 1_000_000) else {
                problem(key, "\(key): \(s) seconds is too long")
                return nil
            }
            return d
        }
        guard let s = string(key) else { return nil }
        guard let d = Self.parseDuration(s) else {
            problem(key, "\(key): \"\(s)\" is not a duration (like \"30s\", \"15m\", \"2h\")")
            return nil
        }
        return d
    }

    /// Microseconds, or nil for text that is no duration or one too long to hold.
    static func parseDuration(_ s: String) -> Int64? {
        if s.hasSuffix("ms"), let n = Int64(s.dropLast(2)), n >= 0 { return scaled(n, 1000) }
        guard let unit = s.last, let n = Int64(s.dropLast()), n >= 0 else {
            return Int64(s).flatMap { $0 >= 0 ? scaled($0, 1_000_000) : nil }
        }
        switch unit {
        case "s": return scaled(n, 1_000_000)
        case "m": return scaled(n, 60_000_000)
        case "h": return scaled(n, 3_600_000_000)
        case "d": return scaled(n, 86_400_000_000)
        default: return nil
        }
    }

    /// n * unit, nil past a thousand years (no later arithmetic on it can overflow either).
    static func scaled(_ n: Int64, _ unit: Int64) -> Int64? {
        let (v, overflow) = n.multipliedReportingOverflow(by: unit)
        guard !overflow, v <= 1000 * 366 * 86_400_000_000 else { return nil }
        return v
    }
}
