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

    func run() throws {
        let loaded: LoadedConfig
        do {
            loaded = try ConfigLoader.load(path: config)
        } catch {
            writeStderr("deferwatch: bad configuration:\n\(error)")
            throw ExitCode(2)
        }
        var options = DaemonRunner.Options(configPath: config)
        options.alertsToStdout = alertsToStdout
        let status = DaemonRunner(loaded: loaded, options: options).run()
        if status != 0 { throw ExitCode(status) }
    }
}
