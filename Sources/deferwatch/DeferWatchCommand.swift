import ArgumentParser
import DeferWatchCore
import DeferWatchDaemon

@main
struct DeferWatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deferwatch",
        abstract: "Watches Postfix and Exim logs for deferrals an operator must act on.",
        discussion: """
        Exit codes: 0 success; 1 some input could not be read completely (the rest was
        processed and reported); 2 bad usage or a bad rules file (nothing was processed);
        3 (status, suggest) the daemon is not running; 4 (status destination) nothing known
        of it, (suggest) no open alert of that number; 5 (check) a finding is a problem;
        6 (suggest) the alert's cause has no configuration fix.
        """,
        version: DeferWatchVersion.string,
        subcommands: [RunCommand.self, StatusCommand.self, SuggestCommand.self, AnalyzeCommand.self, TraceCommand.self, ClassifyCommand.self, RulesCommand.self, CheckCommand.self, CheckConfigCommand.self]
    )

    /// Bad usage exits 2, as documented (the argument parser's own code is 64).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                writeStderr(fullMessage(for: error))
                exit(withError: ExitCode(2))
            }
            exit(withError: error)
        }
    }
}

/// Options shared by the commands that classify: the configuration and extra rules.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The configuration file (default: \(ConfigLoader.defaultPath) when it exists, else the built-in defaults).",
        valueName: "file"))
    var config: String?

    @Option(name: .customLong("rules"), help: ArgumentHelp(
        "A rules file that extends or overrides the built-in rules (repeatable).", valueName: "file"))
    var ruleFiles: [String] = []

    /// The configuration, rules and hints; exits with status 2 on any problem.
    func load() throws -> LoadedConfig {
        try loadConfiguration(path: config, extraRules: ruleFiles)
    }
}

/// The configuration, rules and hints for a command; every problem on stderr and exit
/// status 2 when anything is wrong.
func loadConfiguration(path: String?, extraRules: [String] = []) throws -> LoadedConfig {
    do {
        return try ConfigLoader.load(path: path, extraRules: extraRules)
    } catch {
        writeStderr("deferwatch: bad configuration:\n\(error)")
        throw ExitCode(2)
    }
}
