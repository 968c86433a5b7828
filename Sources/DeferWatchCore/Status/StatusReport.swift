/// What the running daemon publishes for `deferwatch status`, the status socket's JSON and
/// `/metrics`: a snapshot, taken by the pipeline every second and read by the status server
/// without ever touching the pipeline. Times are RFC 3339 text; keys are written in
/// snake_case (README: "The status socket").
public struct StatusReport: Codable, Sendable, Equatable {
    /// The version of the JSON documents' shape, the same in every document deferwatch
    /// writes (the status socket's and `analyze --json`): 2 since the names of the two were
    /// made one (README: "JSON documents").
    public static let schemaVersion = 2

    /// deferwatch's own version.
    public var version: String
    public var pid: Int
    public var startedAt: String
    public var generatedAt: String
    public var uptimeSeconds: Int
    /// The time of the newest delivery line read (of those the tracker's clock took).
    public var logTime: String?
    /// Where the windows end: the tracker's clock, which moves on from `logTime` at the
    /// wall clock's pace while the log is quiet.
    public var windowEnd: String?
    public var sources: [SourceStatus]
    public var lines: LineStatus
    /// Delivery attempts since the start, by outcome (the same object as `analyze --json`'s).
    public var attempts: Attempts
    public var attemptsByMta: [AttemptCount]
    public var deferrals: [DeferralCount]
    public var syslog: SyslogStatus
    public var state: StateStatus
    /// Destination keys holding a window (bounded by `max_tracked_keys`).
    public var trackedDestinations: Int
    public var alerts: [AlertStatus]
    /// Deferring destinations in the current window, most deferred first.
    public var destinations: [DestinationStatus]
    /// The window the destinations' counts cover, like "15m".
    public var window: String
    /// Why the last reload failed, until one succeeds (the running configuration is kept).
    public var configError: String?
    /// What is wrong, one sentence each; empty: healthy.
    public var problems: [String] = []
    /// The DNS checks of alerts' claims since the daemon started.
    public var checks: CheckCounts?
    /// The deferred queue in short (nil: `[queue] enabled = false`); `/v1/queue` has it all.
    public var queue: QueueSummary?

    /// The deferred queue's totals, its providers and its most queued domains (the
    /// metrics' bounded labels). Ages and durations in seconds.
    public struct QueueSummary: Codable, Sendable, Equatable {
        public var messages: Int
        public var recipients: Int
        public var atRisk: Int
        public var oldestAge: Int64?
        public var expiresIn: Int64?
        public var dropped: Int
        public var forgotten: Int
        public var ages: [Int]
        public var providers: [QueueView.Row]
        public var topDomains: [QueueView.Row]

        public init(_ v: QueueView, topDomains n: Int) {
            messages = v.messages
            recipients = v.recipients
            atRisk = v.atRisk
            oldestAge = v.oldestAge
            expiresIn = v.expiresIn
            dropped = v.dropped
            forgotten = v.forgotten
            ages = v.ages
            providers = v.rows.filter { $0.scope == .provider }
            topDomains = Array(v.rows.filter { $0.scope == .domain }.prefix(n))
        }
    }

    public init(version: String, pid: Int, startedAt: String, generatedAt: String, uptimeSeconds: Int, logTime: String?, windowEnd: String? = nil,
                sources: [SourceStatus], lines: LineStatus, attempts: [AttemptCount], deferrals: [DeferralCount],
                syslog: SyslogStatus, state: StateStatus, trackedDestinations: Int, alerts: [AlertStatus],
                destinations: [DestinationStatus], window: String, configError: String? = nil) {
        self.version = version
        self.pid = pid
        self.startedAt = startedAt
        self.generatedAt = generatedAt
        self.uptimeSeconds = uptimeSeconds
        self.logTime = logTime
        self.windowEnd = windowEnd
        self.sources = sources
        self.lines = lines
        attemptsByMta = attempts
        self.attempts = Attempts(attempts)
        self.deferrals = deferrals
        self.syslog = syslog
        self.state = state
        self.trackedDestinations = trackedDestinations
        self.alerts = alerts
        self.destinations = destinations
        self.window = window
        self.configError = configError
        problems = findProblems()
    }

    /// Everything that makes deferwatch miss or lose alerts, or read less than it should.
    func findProblems() -> [String] {
        var out: [String] = []
        for s in sources where s.state != "following" {
            out.append("\(s.kind == "journal" ? "journal " + s.name : s.name): \(s.state)")
        }
        for s in sources where (s.unreadable ?? 0) > 0 {
            out.append("journal \(s.name): \(s.unreadable!) entries could not be read (a damaged journal file: journalctl --verify says where)")
        }
        if let e = syslog.error, syslog.queued > 0 {
            out.append("syslog unavailable (\(e)): \(syslog.queued) alert lines waiting")
        } else if let e = syslog.error {
            out.append("syslog unavailable (\(e))")
        }
        if syslog.dropped > 0 { out.append("\(syslog.dropped) alert lines dropped (syslog was unavailable too long)") }
        if let e = state.error { out.append("cannot save state in \(state.directory): \(e)") }
        if let w = state.warning { out.append("state: \(w)") }
        if let e = configError { out.append("configuration reload failed, the earlier one runs on: \(e)") }
        return out
    }

    public struct SourceStatus: Codable, Sendable, Equatable {
        /// "file" or "journal".
        public var kind: String
        /// The file's path, the journal directory, or "system".
        public var name: String
        /// Where it was read up to: a byte offset, or a journal cursor.
        public var position: String
        /// Bytes written to the file and not read yet (files).
        public var lagBytes: Int64?
        /// How far behind the newest entry the reader is, in seconds of log time (0 when
        /// caught up).
        public var lagSeconds: Double
        /// Journal entries passed over because they could not be read (a damaged file).
        public var unreadable: Int?
        /// The time of the newest entry read from it.
        public var lastEntry: String?
        /// "following", "waiting" (for the file to appear) or the last read error.
        public var state: String
        public init(kind: String, name: String, position: String, lagBytes: Int64?, lagSeconds: Double, lastEntry: String?, state: String, unreadable: Int? = nil) {
            self.unreadable = unreadable
            self.kind = kind
            self.name = name
            self.position = position
            self.lagBytes = lagBytes
            self.lagSeconds = lagSeconds
            self.lastEntry = lastEntry
            self.state = state
        }
    }

    public struct LineStatus: Codable, Sendable, Equatable {
        public var total: Int
        public var postfix: Int
        public var exim: Int
        public var otherPrograms: Int
        public var own: Int
        public var unrecognised: Int
        public var oversized: Int
        /// Lines read per second over the last few seconds.
        public var perSecond: Double
        /// Delivery lines whose time the tracker's clock did not take (dated past the wall
        /// clock, or a far jump no second line confirmed): a wrong clock somewhere.
        public var timeOutliers: Int
        public init(_ c: LineCounters, perSecond: Double, timeOutliers: Int = 0) {
            self.timeOutliers = timeOutliers
            total = c.lines
            postfix = c.postfixLines
            exim = c.eximLines
            otherPrograms = c.otherProgramLines
            own = c.ownLines
            unrecognised = c.unrecognisedLines
            oversized = c.oversizedLines
            self.perSecond = perSecond
        }
    }

    /// Attempts by outcome: `total` and `deferred` always; `sent`, `bounced` and `expired`
    /// where they are counted (not in a destination's window).
    public struct Attempts: Codable, Sendable, Equatable {
        public var total: Int
        public var sent: Int?
        public var deferred: Int
        public var bounced: Int?
        public var expired: Int?

        public init(total: Int, deferred: Int) {
            self.total = total
            self.deferred = deferred
        }

        init(_ counts: [AttemptCount]) {
            var by: [String: Int] = [:]
            for a in counts { by[a.status, default: 0] &+= a.count }
            total = counts.reduce(0) { $0 &+ $1.count }
            sent = by["sent"] ?? 0
            deferred = by["deferred"] ?? 0
            bounced = by["bounced"] ?? 0
            expired = by["expired"] ?? 0
        }
    }

    public struct AttemptCount: Codable, Sendable, Equatable {
        public var mta: String
        public var status: String
        public var count: Int
    }

    public struct DeferralCount: Codable, Sendable, Equatable {
        public var provider: String
        public var cause: String
        public var count: Int
    }

    public struct SyslogStatus: Codable, Sendable, Equatable {
        public var socket: String
        public var sent: Int
        public var dropped: Int
        public var queued: Int
        /// Why the last attempt to write to the socket failed; nil when it went through.
        public var error: String?
        public init(socket: String, sent: Int, dropped: Int, queued: Int, error: String? = nil) {
            self.socket = socket
            self.sent = sent
            self.dropped = dropped
            self.queued = queued
            self.error = error
        }
    }

    public struct StateStatus: Codable, Sendable, Equatable {
        public var directory: String
        public var lastCheckpoint: String?
        public var checkpointAgeSeconds: Double?
        /// Why checkpoints cannot be saved, while they cannot.
        public var error: String?
        /// What went wrong with the state earlier in this run (removed, missing at the
        /// start, refused), and what was done about it.
        public var warning: String?
        public init(directory: String, lastCheckpoint: String?, checkpointAgeSeconds: Double?, error: String?, warning: String? = nil) {
            self.directory = directory
            self.lastCheckpoint = lastCheckpoint
            self.checkpointAgeSeconds = checkpointAgeSeconds
            self.error = error
            self.warning = warning
        }
    }

    public struct AlertStatus: Codable, Sendable, Equatable {
        public var id: Int
        public var severity: String
        public var cause: String
        public var scope: String
        public var key: String
        public var host: String?
        public var provider: String?
        public var domain: String?
        public var relay: String?
        public var mta: String
        public var openedAt: String
        public var firstSeen: String
        public var lastSeen: String
        public var lastSuccess: String?
        public var deferrals: Int
        public var attempts: Int
        public var expired: Int
        public var recipients: Int
        public var recurring: Int
        public var summary: String
        public var sample: String
        public var hint: String
        /// The sender domains of the messages it deferred (at most Alert.senderCap).
        public var senders: [String]?
        /// What the DNS checks found of the claim (reverse_dns, authentication, reputation).
        public var checks: ClaimStatus?
        /// The change to the MTA's configuration that fixes the cause (rate_limit,
        /// connection_limit, too many recipients), with values from what the alert observed;
        /// absent for causes a configuration change does not fix.
        public var fix: ConfigFix?
    }

    /// An alert's DNS checks: when, the short form, whether they confirm the receiver's
    /// claim, the sentence, the identity checked and each finding.
    public struct ClaimStatus: Codable, Sendable, Equatable {
        public var checkedAt: String
        public var verdict: String
        public var short: String
        public var note: String
        public var identity: [String]
        public var findings: [FindingStatus]

        public init(_ c: ClaimCheck) {
            checkedAt = CivilTime.rfc3339(c.time)
            verdict = c.verdict.rawValue
            short = c.short
            note = c.note
            identity = c.identity.learned
            findings = c.findings.map(FindingStatus.init)
        }
    }

    public struct FindingStatus: Codable, Sendable, Equatable {
        public var check: String
        public var subject: String
        public var verdict: String
        public var summary: String
        public var evidence: [String]
        public var fix: String?

        public init(_ f: Finding) {
            check = f.check
            subject = f.subject
            verdict = f.verdict.rawValue
            summary = f.summary
            evidence = f.evidence
            fix = f.fix
        }
    }

    /// Checks of alerts' claims run, and their findings, by verdict; alerts not checked
    /// because the queue was full.
    public struct CheckCounts: Codable, Sendable, Equatable {
        public struct Count: Codable, Sendable, Equatable {
            public var check: String
            public var verdict: String
            public var count: Int
            public init(check: String, verdict: String, count: Int) {
                self.check = check
                self.verdict = verdict
                self.count = count
            }
        }
        /// Alerts checked, by claim verdict (confirmed, contradicted, undecided).
        public var claims: [String: Int]
        public var findings: [Count]
        public var dropped: Int
        public var waiting: Int
        public init(claims: [String: Int], findings: [Count], dropped: Int, waiting: Int) {
            self.claims = claims
            self.findings = findings
            self.dropped = dropped
            self.waiting = waiting
        }
    }

    public struct CauseCount: Codable, Sendable, Equatable {
        public var cause: String
        public var deferrals: Int
        public var messages: Int
    }

    public struct DestinationStatus: Codable, Sendable, Equatable {
        public var scope: String
        public var key: String
        public var host: String?
        public var provider: String?
        /// Attempts in the window: all of them, and those deferred.
        public var attempts: Attempts
        /// Deferred attempts over all attempts in the window.
        public var deferredShare: Double
        public var causes: [CauseCount]
        public var firstDeferral: String?
        public var sample: String
        /// The sender domains of its recent deferrals, newest first (absent: none known).
        public var senders: [String]?
        /// Open alerts on this destination.
        public var alerts: [Int]
    }
}

extension StatusReport.AlertStatus {
    /// The alert as the status socket shows it (the same fields as its syslog line).
    public init(_ t: AlertTransition) {
        let a = t.alert
        id = a.id
        severity = a.severity.rawValue
        cause = a.cause.rawValue
        scope = a.key.scope.rawValue
        key = a.key.name
        host = t.host
        provider = a.provider
        domain = a.domain
        relay = a.relay
        mta = a.mta.rawValue
        openedAt = CivilTime.rfc3339(a.openedAt)
        firstSeen = CivilTime.rfc3339(a.firstSeen)
        lastSeen = CivilTime.rfc3339(a.lastSeen)
        lastSuccess = a.lastSuccess.map(CivilTime.rfc3339)
        deferrals = a.deferrals
        attempts = a.attempts
        expired = a.expired
        recipients = a.recipients
        recurring = a.recurring
        summary = t.summary
        sample = a.sample
        hint = t.hint
        senders = a.senders
        fix = t.fix
    }
}

extension StatusReport.DestinationStatus {
    public init(_ d: DeferralTracker.DeferringDestination, alerts: [Int]) {
        scope = d.key.scope.rawValue
        key = d.key.name
        host = d.key.host
        provider = d.provider
        attempts = StatusReport.Attempts(total: d.attempts, deferred: d.deferrals)
        deferredShare = d.attempts == 0 ? 0 : (Double(d.deferrals) / Double(d.attempts) * 1000).rounded() / 1000
        causes = d.causes.map { StatusReport.CauseCount(cause: $0.cause.rawValue, deferrals: $0.deferrals, messages: $0.messages) }
        firstDeferral = d.firstDeferral.map(CivilTime.rfc3339)
        sample = d.sample
        senders = d.senders.isEmpty ? nil : d.senders
        self.alerts = alerts
    }
}

extension StatusReport {
    /// `/v1/alerts`.
    public struct AlertList: Codable, Sendable, Equatable {
        public var alerts: [AlertStatus]
        public init(alerts: [AlertStatus]) { self.alerts = alerts }
    }

    /// `/v1/destinations`.
    public struct DestinationList: Codable, Sendable, Equatable {
        public var window: String
        public var destinations: [DestinationStatus]
        public init(window: String, destinations: [DestinationStatus]) {
            self.window = window
            self.destinations = destinations
        }
    }

    /// `/v1/destinations/{name}`: every key of that name (domain, relay, provider, per host)
    /// and the open alerts that concern it.
    public struct DestinationDetail: Codable, Sendable, Equatable {
        public var name: String
        public var window: String
        public var destinations: [DestinationStatus]
        public var alerts: [AlertStatus]
        public init(name: String, window: String, destinations: [DestinationStatus], alerts: [AlertStatus]) {
            self.name = name
            self.window = window
            self.destinations = destinations
            self.alerts = alerts
        }
    }
}
