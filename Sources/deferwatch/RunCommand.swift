#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import DeferWatchCore
import DeferWatchDaemon

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Follow the journal and log files and raise alerts (the daemon).",
        discussion: """
        Runs in the foreground, as systemd expects (systemd/deferwatch.service): follows the
        sources of the configuration, writes alerts to syslog, checkpoints where it read up to
        in the state directory, and resumes there after a restart. SIGHUP reloads the
        configuration, rules and hints (a bad new configuration is reported and the running
        one kept); SIGTERM and SIGINT stop it after a last checkpoint.

        Examples:
          deferwatch run
          deferwatch run --config /etc/deferwatch/deferwatch.toml
        """
    )

    @Option(name: .long, help: ArgumentHelp("The configuration file (default: \(ConfigLoader.defaultPath) when it exists).", valueName: "file"))
    var config: String?

    @Flag(name: .long, help: "Also print alert transitions as JSON lines on standard output.")
    var alertsToStdout = false

    @Flag(name: .long, help: "Run on the shipped sample log, replayed live into a temporary file (no configuration, no MTA needed).")
    var demo = false

    @Option(name: .long, help: "With --demo: how many times faster than real time the sample is replayed.")
    var speed: Int = 60

    func run() throws {
        if demo { return try runDemo() }
        let loaded = try loadConfiguration(path: config)
        var options = DaemonRunner.Options(configPath: config)
        options.alertsToStdout = alertsToStdout
        let status = DaemonRunner(loaded: loaded, options: options).run()
        if status != 0 { throw ExitCode(status) }
    }

    private func runDemo() throws {
        guard speed >= 1 && speed <= 3600 else { throw ValidationError("--speed must be between 1 and 3600") }
        let dir = "/tmp/deferwatch-demo-\(getpid())"
        mkdir(dir, 0o755)
        // The sample's log, state and socket go with the demo, however it ends.
        defer { Demo.remove(directory: dir) }
        mkdir("\(dir)/state", 0o755)
        let path = "\(dir)/deferwatch.toml"
        let text = Demo.configuration(directory: dir, speed: speed)
        _ = text.withCString { t in
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            defer { close(fd) }
            return write(fd, t, strlen(t))
        }
        let loaded = try loadConfiguration(path: path)
        writeStderr("""
        deferwatch demo: replaying the sample log (2 hours of a mail host, \(speed)x faster) into \(dir)/mail.log
        and following it live. Alerts print below\(loaded.config.syslog.socket == "/dev/log" ? " and go to syslog" : ""); it stops by itself when the replay is over.
        Ask it while it runs, from another terminal:
            deferwatch status --socket \(dir)/status.sock
            deferwatch status destination gmail.com --socket \(dir)/status.sock
        """)
        var options = DaemonRunner.Options(configPath: path)
        options.textAlertsToStdout = true
        let runner = DaemonRunner(loaded: loaded, options: options)
        Demo.startReplay(into: "\(dir)/mail.log", speed: speed,
                         linger: Double(loaded.config.tracker.defaults.resolveAfter) / 1e6 + 8)
        let status = runner.run()
        if status != 0 { throw ExitCode(status) }
    }
}
