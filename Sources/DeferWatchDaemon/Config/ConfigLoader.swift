#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore

/// Everything the pipeline needs from configuration, loaded and checked together so a
/// reload either takes all of it or none of it.
public struct LoadedConfig: Sendable {
    public var path: String?
    public var config: DeferWatchConfig
    public var rules: RuleSet
    public var hints: HintBook
}

public enum ConfigLoader {
    public static let defaultPath = "/etc/deferwatch/deferwatch.toml"

    /// Loads `path` (or the default file when it exists, else the built-in defaults), then
    /// the rules and hints files it names plus `extraRules`. Throws every problem found,
    /// each as file:line: message.
    public static func load(path: String?, extraRules: [String] = []) throws(ConfigErrors) -> LoadedConfig {
        var config = DeferWatchConfig()
        var used: String?
        let candidate = path ?? (access(defaultPath, F_OK) == 0 ? defaultPath : nil)
        if let candidate {
            let text = try readText(candidate)
            config = try DeferWatchConfig.parse(name: candidate, text: text)
            used = candidate
        }
        var problems: [ConfigProblem] = []
        var ruleTexts: [(name: String, text: String)] = []
        for f in config.ruleFiles + extraRules {
            do { ruleTexts.append((f, try readText(f))) } catch { problems += error.problems }
        }
        var hintTexts: [(name: String, text: String)] = []
        for f in config.hintFiles {
            do { hintTexts.append((f, try readText(f))) } catch { problems += error.problems }
        }
        if !problems.isEmpty { throw ConfigErrors(problems) }
        let rules = try RuleSet.load(files: ruleTexts)
        let hints = try HintBook.load(files: hintTexts, providers: rules.providers)
        return LoadedConfig(path: used, config: config, rules: rules, hints: hints)
    }

    /// A whole small text file, or a problem naming it.
    public static func readText(_ path: String) throws(ConfigErrors) -> String {
        let reader = ChunkReader(path: path)
        var bytes: [UInt8] = []
        do {
            let (fd, info) = try reader.open()
            if info.size > 16 << 20 {
                close(fd)
                throw ConfigErrors([ConfigProblem(file: path, line: nil, message: "too large for a configuration file")])
            }
            try reader.read(fd: fd, body: { bytes.append(contentsOf: $0) })
        } catch let e as ConfigErrors {
            throw e
        } catch let e as InputError {
            throw ConfigErrors([ConfigProblem(file: path, line: nil, message: e.reason)])
        } catch {
            throw ConfigErrors([ConfigProblem(file: path, line: nil, message: "\(error)")])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
