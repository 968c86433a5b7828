import ArgumentParser
import DeferWatchCore
import DeferWatchDaemon

struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Print the cause and provider of a reply text (or of a whole log line).",
        discussion: """
        With a text, prints its cause, provider and the deciding rule. With no text, reads one
        text per line on standard input and prints one JSON object per line:
        {"text":..., "cause":..., "provider":..., "rule":...}

        Examples:
          deferwatch classify '421-4.7.28 Our system has detected an unusual rate of unsolicited mail'
          deferwatch classify --relay mx.example.com '451 4.7.1 Greylisted, please try again later'
          cut -d'(' -f2- deferred.txt | deferwatch classify
        """
    )

    @Argument(help: "The reply text (or a Postfix/Exim log line). Omit to read standard input.")
    var text: String?

    @Option(name: .long, help: ArgumentHelp("The relay host the text came from (helps recognise the provider).", valueName: "host"))
    var relay: String?

    @Option(name: .long, help: ArgumentHelp("The recipient domain (helps recognise the provider).", valueName: "domain"))
    var domain: String?

    @Flag(name: .long, help: "Print JSON even for a single text.")
    var json = false

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let ruleSet = try options.load().rules
        var classifier = TextClassifier(rules: ruleSet)
        let out = FDWriter(fd: 1)
        if let text {
            let r = classifier.classify(text, relay: relay, domain: domain)
            if json {
                out.write(r.json())
            } else {
                var s = "cause:    \(r.cause.rawValue)\n"
                s += "provider: \(r.provider ?? "-")\n"
                if let rule = r.rule {
                    s += "rule:     \(rule.id) (\(rule.origin))\n"
                    if !rule.note.isEmpty { s += "note:     \(rule.note)\n" }
                } else {
                    s += "rule:     - (no rule matched)\n"
                }
                s += "fix:      \(r.cause.summary)\n"
                out.write(s)
            }
            out.flush()
            return
        }
        var splitter = LineSplitter()
        let handle: (Bytes) -> Void = { line in
            let t = line.string
            guard !t.allSatisfy({ $0 == " " || $0 == "\t" }) else { return }
            out.write(classifier.classify(t, relay: relay, domain: domain).json())
        }
        do {
            try ChunkReader(path: "-").read(fd: 0, body: { chunk in splitter.feed(chunk, handle) })
        } catch {
            writeStderr("deferwatch: \(error)")
            splitter.finish(handle)
            out.flush()
            throw ExitCode(1)
        }
        splitter.finish(handle)
        out.flush()
    }
}
