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
        processed and reported); 2 bad usage or a bad rules file (nothing was processed).
        """,
        version: DeferWatchVersion.string,
        subcommands: [AnalyzeCommand.self, ClassifyCommand.self]
    )
}

enum DeferWatchVersion {
    static let string = "0.1.0"
}

/// Options shared by the commands that classify.
struct RulesOptions: ParsableArguments {
    @Option(name: .customLong("rules"), help: ArgumentHelp(
        "A rules file that extends or overrides the built-in rules (repeatable).", valueName: "file"))
    var ruleFiles: [String] = []

    /// The built-in rules plus the user's files; exits with status 2 on a bad file.
    func load() throws -> RuleSet {
        var files: [(name: String, text: String)] = []
        for path in ruleFiles {
            do {
                files.append((path, try readTextFile(path)))
            } catch {
                writeStderr("deferwatch: \(error)")
                throw ExitCode(2)
            }
        }
        do {
            return try RuleSet.load(files: files)
        } catch {
            writeStderr("deferwatch: bad rules:\n\(error)")
            throw ExitCode(2)
        }
    }
}
