package dev.vlstm.cli;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;

/**
 * The tool's file errors as one line each that says what is wrong and with which file: "model file not found:
 * PATH", "output directory exists and is a file, not a directory: PATH". The file system's own exceptions give the
 * path alone (NoSuchFileException), or the reason alone ("Is a directory", "No such device" from reading or mapping
 * a directory); {@link #checkInput} and {@link #checkOutputDirectory} look at every file before a command starts,
 * and {@link #reading}, {@link #writing} and {@link #describe} word what still goes wrong while it runs.
 */
final class FileErrors {

    private FileErrors() {
    }

    /** Reads a file. */
    @FunctionalInterface
    interface Reading<T> {
        T read(Path file) throws IOException;
    }

    /** Writes a file, or creates a directory. */
    @FunctionalInterface
    interface Writing {
        void write(Path file) throws IOException;
    }

    /**
     * Checks a file that a command will read.
     *
     * @param noun what the file is, e.g. "model file"
     * @throws IOException if it does not exist, is a directory or cannot be read
     */
    static void checkInput(String noun, Path file) throws IOException {
        if (Files.isDirectory(file)) {
            throw new IOException(noun + " is a directory, not a file: " + file);
        }
        if (!Files.exists(file)) {
            throw new IOException(Files.notExists(file) ? noun + " not found: " + file
                    : noun + " cannot be looked up (permission denied on a directory above it): " + file);
        }
        if (!Files.isReadable(file)) {
            throw new IOException(noun + " cannot be read (permission denied): " + file);
        }
    }

    /**
     * Checks a directory that a command will create if need be and write into, without creating it.
     *
     * @param noun what the directory is, e.g. "output directory"
     * @throws IOException if it, or the nearest of its parents that exists, is a file, or cannot be written
     */
    static void checkOutputDirectory(String noun, Path directory) throws IOException {
        if (Files.exists(directory)) {
            if (!Files.isDirectory(directory)) {
                throw new IOException(noun + " exists and is a file, not a directory: " + directory);
            }
            if (!Files.isWritable(directory)) {
                throw new IOException(noun + " cannot be written into (permission denied): " + directory);
            }
            return;
        }
        Path parent = directory.toAbsolutePath().getParent();
        while (parent != null && !Files.exists(parent)) {
            parent = parent.getParent();
        }
        if (parent != null && !Files.isDirectory(parent)) {
            throw new IOException(noun + " cannot be created, " + parent + " is a file: " + directory);
        }
        if (parent != null && !Files.isWritable(parent)) {
            throw new IOException(noun + " cannot be created in " + parent + " (permission denied): " + directory);
        }
    }

    /** {@return what {@code reading} reads from {@code file}}; its file errors are worded by {@link #describe} */
    static <T> T reading(String noun, Path file, Reading<T> reading) throws IOException {
        try {
            return reading.read(file);
        } catch (IOException e) {
            throw reworded(noun, file, false, e);
        }
    }

    /** Runs {@code writing} on {@code file}; its file errors are worded by {@link #describe}. */
    static void writing(String noun, Path file, Writing writing) throws IOException {
        try {
            writing.write(file);
        } catch (IOException e) {
            throw reworded(noun, file, true, e);
        }
    }

    private static IOException reworded(String noun, Path file, boolean writing, IOException e) {
        String message = describe(noun, file, writing, e);
        return message.equals(e.getMessage()) ? e : new IOException(message, e);
    }

    /**
     * One line for an exception that reached the top of a command without a word on what the file was for.
     *
     * @return as {@link #describe(String, Path, boolean, IOException)} with the noun "file"
     */
    static String describe(IOException e) {
        return describe("file", null, false, e);
    }

    /**
     * One line for an exception that reading or writing {@code file} threw: the file system's exceptions reworded
     * with {@code noun} and the path; any other exception's message as it is (vlstm's readers name the file).
     *
     * @param noun    what the file is, e.g. "model file"
     * @param file    the file that was being read or written (named rather than the exception's file, which may be
     *                a temporary one beside it), or null to name the exception's file
     * @param writing whether it was being written (or its directory created) rather than read
     */
    static String describe(String noun, Path file, boolean writing, IOException e) {
        String reason = e instanceof FileSystemException system ? system.getReason() : e.getMessage();
        String path = file != null ? file.toString()
                : e instanceof FileSystemException system && system.getFile() != null ? system.getFile()
                : "(path not known)";
        if (e instanceof NoSuchFileException) {
            return noun + " not found: " + path;
        }
        if (e instanceof AccessDeniedException) {
            return noun + (writing ? " cannot be written" : " cannot be read") + " (permission denied): " + path;
        }
        if (e instanceof FileAlreadyExistsException) {
            return noun + " exists and is a file, not a directory: " + path;
        }
        if (e instanceof NotDirectoryException || "Not a directory".equals(reason)) {
            return noun + " cannot be reached, a part of its path is a file, not a directory: " + path;
        }
        if (e instanceof DirectoryNotEmptyException || "Is a directory".equals(reason)) {
            return noun + " is a directory, not a file: " + path;
        }
        if ("No such device".equals(reason)) {
            return noun + " is not a regular file (a directory or a device?): " + path;
        }
        if (e instanceof FileSystemException) {
            return noun + (reason == null ? "" : ": " + reason) + ": " + path;
        }
        return e.getMessage() == null ? e.toString() : e.getMessage();
    }
}
