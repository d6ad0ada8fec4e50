package dev.vlstm.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The performance gate's baseline: a revision of this repository, exported from git and built into its own
 * benchmark jar. The build goes to {@code bench/target/gate-baseline/SHA/} and is reused while it is there, so
 * repeated gate runs against one baseline build it once.
 */
final class BaselineBuild {

    private final Path repository;

    /** Builds revisions of the git repository whose work tree is {@code repository}. */
    BaselineBuild(Path repository) {
        this.repository = repository;
    }

    /**
     * The revision named in {@code file}: its one line that is not blank and not a {@code #} comment.
     *
     * @throws IOException if the file cannot be read or names no revision, or more than one
     */
    static String readRevision(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IOException("the gate's baseline reference " + file + " does not exist");
        }
        List<String> revisions = Files.readAllLines(file).stream().map(String::strip)
                .filter(line -> !line.isEmpty() && !line.startsWith("#")).toList();
        if (revisions.size() != 1) {
            throw new IOException(file + " must name exactly one revision on a line of its own, found "
                    + revisions.size());
        }
        return revisions.getFirst();
    }

    /**
     * The full commit id that {@code revision} names.
     *
     * @throws IOException if git cannot run here or the revision names no commit of this repository
     */
    String resolve(String revision) throws IOException, InterruptedException {
        Result parsed = git("rev-parse", "--verify", "--quiet", revision + "^{commit}");
        if (parsed.exit != 0) {
            throw new IOException("the gate's baseline " + revision + " is not a commit of " + repository
                    + " (a shallow clone may lack it: fetch the history, or name another with -Dgate.baseline=REV)");
        }
        return parsed.output.strip();
    }

    /** True if {@code commit} is HEAD or one of its ancestors. */
    boolean isAncestorOfHead(String commit) throws IOException, InterruptedException {
        return git("merge-base", "--is-ancestor", commit, "HEAD").exit == 0;
    }

    /** The number of commits from {@code commit} to HEAD. */
    int commitsSince(String commit) throws IOException, InterruptedException {
        Result count = git("rev-list", "--count", commit + "..HEAD");
        return count.exit == 0 ? Integer.parseInt(count.output.strip()) : -1;
    }

    /**
     * The benchmark jar of {@code commit} (a full id), built now unless an earlier gate run left it.
     *
     * @throws IOException if the export or the build fails; the message names the build's log
     */
    Path benchmarkJar(String commit) throws IOException, InterruptedException {
        Path builds = repository.resolve("bench/target/gate-baseline");
        Path tree = builds.resolve(commit);
        Path jar = tree.resolve("bench/target/vlstm-bench.jar");
        if (Files.isRegularFile(jar)) {
            System.out.println("Baseline " + commit + ": reusing " + jar);
            return jar;
        }
        deleteRecursively(tree);
        Files.createDirectories(tree);
        Path log = builds.resolve(commit + "-build.log");
        Path archive = builds.resolve(commit + ".tar");
        System.out.println("Baseline " + commit + ": exporting and building (log: " + log + ")");
        run(List.of("git", "-C", repository.toString(), "archive", "--format=tar", "-o", archive.toString(), commit),
                repository, log, "git archive");
        run(List.of("tar", "-xf", archive.toString(), "-C", tree.toString()), repository, log, "tar");
        Files.delete(archive);
        run(List.of(tree.resolve("mvnw").toString(), "-B", "-q", "-DskipTests", "-pl", "bench", "-am", "package"),
                tree, log, "the baseline's build");
        if (!Files.isRegularFile(jar)) {
            throw new IOException("the baseline's build made no " + jar + "; its log: " + log);
        }
        return jar;
    }

    private record Result(int exit, String output) {
    }

    private Result git(String... arguments) throws IOException, InterruptedException {
        List<String> command = Stream.concat(Stream.of("git", "-C", repository.toString()), Stream.of(arguments))
                .toList();
        Process process;
        try {
            process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        } catch (IOException e) {
            throw new IOException("the gate needs git to build its baseline, and git did not start: "
                    + e.getMessage(), e);
        }
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Result(process.waitFor(), output);
    }

    private static void run(List<String> command, Path directory, Path log, String what)
            throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).directory(directory.toFile()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        int exit = process.waitFor();
        if (exit != 0) {
            throw new IOException(what + " failed (exit " + exit + "); its log: " + log);
        }
    }

    private static void deleteRecursively(Path tree) throws IOException {
        if (!Files.exists(tree)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(tree)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(path);
            }
        }
    }
}
