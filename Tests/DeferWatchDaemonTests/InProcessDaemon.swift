import DeferWatchCore
import DeferWatchDaemon
import DeferWatchTestSupport
import Foundation

/// `deferwatch run` driven in-process: its input a memory log, its state a memory store,
/// its time a manual clock, its signals sent by the test; each `step()` is one turn of the
/// daemon's loop and moves the clock on by the poll interval it waits. Nothing sleeps: a
/// test of resolves, restarts and reloads takes milliseconds of real time.
final class InProcessDaemon {
    /// What outlives a runner, as files and the clock outlive a process.
    final class World {
        let dir: URL
        let config: URL
        let clock: ManualClock
        let log = MemoryLog(name: "/memory/mail.log")
        let store = MemoryStateStore(location: "memory-state")
        /// A datagram socket standing in for syslog: alert lines arrive there at once, and a
        /// stop does not wait for a syslog that is not there.
        let syslog: Int32

        /// `extra`: more configuration after the defaults of the tests (50 ms polls, a
        /// checkpoint every 200 ms, no status socket, syslog on `syslog`).
        init(extra: String = "") throws {
            dir = TestPaths.temporaryDirectory("inprocess")
            config = dir.appendingPathComponent("deferwatch.toml")
            // 2026-11-30 12:00:00 UTC.
            clock = ManualClock(wall: CivilTime.epochSeconds(year: 2026, month: 11, day: 30, hour: 12, minute: 0, second: 0) * 1_000_000)
            syslog = bindDatagramSocket(path: dir.appendingPathComponent("syslog.sock").path)
            try World.text(dir: dir, extra: extra).write(to: config, atomically: true, encoding: .utf8)
        }

        deinit { close(syslog) }

        private var received: [String] = []

        /// The syslog lines received so far, once at least `count` have come (the syslog
        /// sink writes from a thread of its own, on the real clock; up to 10 s).
        func syslogLines(atLeast count: Int = 0) -> [String] {
            var buf = [UInt8](repeating: 0, count: 65536)
            _ = eventually(timeout: 10, every: 5_000) {
                while true {
                    let n = buf.withUnsafeMutableBytes { recv(syslog, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                    if n <= 0 { break }
                    received.append(String(decoding: buf[0..<n], as: UTF8.self))
                }
                return received.count >= count
            }
            return received
        }

        static func text(dir: URL, extra: String) -> String {
            """
            [sources]
            journal = false
            files = []
            poll_interval = "50ms"
            [state]
            directory = "\(dir.path)/state"
            checkpoint_every = "200ms"
            [status]
            socket = ""
            [syslog]
            socket = "\(dir.path)/syslog.sock"
            \(extra)

            """
        }

        /// A Postfix line at the clock's time plus `offset` seconds: a deferral (Gmail's
        /// rate limit; for another `domain`, its own MX's connection limit), or a delivery.
        func line(_ i: Int, sent: Bool, offset: Double = 0, domain: String = "gmail.com") -> String {
            let t = CivilTime.rfc3339(clock.wall() &+ Int64(offset * 1e6))
            let gmail = domain == "gmail.com"
            let relay = gmail ? "gmail-smtp-in.l.google.com[142.250.102.27]" : "mx.\(domain)[192.0.2.9]"
            let reply = gmail ? "421-4.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP address. - gsmtp"
                : "421 4.7.0 Too many concurrent SMTP connections from this IP address; please try again later."
            let status = sent ? "dsn=2.0.0, status=sent (250 2.0.0 OK)"
                : "dsn=4.7.0, status=deferred (host \(relay) said: \(reply) (in reply to end of DATA command))"
            return "\(t) mx1 postfix/smtp[1]: \(String(format: "B%09X", i)): to=<u\(i)@\(domain)>, relay=\(relay):25, delay=1, delays=0/0/0/1, \(status)\n"
        }

        func append(_ lines: [String]) { log.append(lines.joined()) }
    }

    /// The alert transitions a runner wrote.
    final class Alerts: AlertSink {
        var all: [AlertTransition] = []
        var checks: [ClaimCheck] = []
        func write(_ t: AlertTransition) { all.append(t) }
        func write(check: ClaimCheck, alert: Alert?) { checks.append(check) }
        var states: [String] { all.map { "\($0.state.rawValue) \($0.alert.id)" } }
    }

    let world: World
    let runner: DaemonRunner
    let signals = TestSignals()
    let alerts = Alerts()

    /// Starts a runner on `world` (a restart when the world's store holds a state): its
    /// input the world's memory log, or with `configuredSources` the files and journal its
    /// configuration names.
    init(_ world: World, configuredSources: Bool = false) throws {
        self.world = world
        let loaded = try ConfigLoader.load(path: world.config.path)
        var options = DaemonRunner.Options(configPath: world.config.path)
        options.alertSink = alerts
        let services: DaemonServices = configuredSources
            ? .inProcess(clock: world.clock, store: world.store, signals: signals)
            : .inProcess(clock: world.clock, logs: [world.log], store: world.store, signals: signals)
        runner = DaemonRunner(loaded: loaded, options: options, services: services)
        let status = runner.start()
        if status != 0 { throw FixtureError(message: "the runner did not start: \(status)") }
    }

    /// `n` turns of the loop; false when the runner stopped.
    @discardableResult
    func step(_ n: Int = 1) -> Bool {
        for _ in 0..<n where !runner.step() { return false }
        return true
    }

    /// Turns of the loop until `seconds` of the clock have passed.
    func run(seconds: Double) {
        let end = world.clock.monotonic() + seconds
        while world.clock.monotonic() < end { step() }
    }

    /// A graceful stop (SIGTERM).
    func stop() {
        signals.send(SIGTERM)
        while runner.step() {}
        runner.finish()
    }

    /// A kill -9: nothing more is saved; the next `InProcessDaemon(world)` restarts from
    /// the last checkpoint.
    func kill() { runner.abandon() }

    var status: StatusReport? { runner.board.current }

    /// The saved state as JSON.
    var saved: [String: Any]? {
        world.store.data.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }
}
