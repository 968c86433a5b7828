import ArgumentParser
import DeferWatchCore
import DeferWatchDaemon

struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check a configuration file, and the rules and hints files it names.",
        discussion: """
        Prints every problem as FILE:LINE: what is wrong (unknown keys are errors) and exits
        with status 1; prints a summary and exits 0 when all is well. Without FILE, checks
        \(ConfigLoader.defaultPath), or the built-in defaults when that file does not exist.

        Examples:
          deferwatch check-config
          deferwatch check-config /etc/deferwatch/deferwatch.toml
        """
    )

    @Argument(help: ArgumentHelp("The configuration file.", valueName: "file"))
    var file: String?

    func run() throws {
        do {
            let loaded = try ConfigLoader.load(path: file)
            let c = loaded.config
            let name = loaded.path ?? "built-in defaults"
            var s = "\(name): OK\n"
            s += "  rules: \(loaded.rules.rules.count) (\(c.ruleFiles.count) extra files), providers: \(loaded.rules.providers.count), hints: \(loaded.hints.hints.count)\n"
            s += "  alerts: window \(AlertTransition.duration(c.tracker.window)), at least \(c.tracker.defaults.minDeferrals) deferrals of \(c.tracker.defaults.minMessages) messages and \(Int(c.tracker.defaults.minShare * 100))% of attempts\n"
            s += "  syslog: \(c.syslog.socket), facility \(c.syslog.facility), \(c.syslog.format.rawValue)\n"
            let out = FDWriter(fd: 1)
            out.write(s)
            out.flush()
        } catch {
            writeStderr("\(error)")
            throw ExitCode(1)
        }
    }
}
