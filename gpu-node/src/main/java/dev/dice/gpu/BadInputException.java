package dev.dice.gpu;

/**
 * Input the system refuses: a file, line or field that is missing or malformed. The message always names
 * where (file, line, field or option) and what was expected, so the user can fix it without a debugger.
 */
public final class BadInputException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public BadInputException(String message) {
        super(message);
    }

    public BadInputException(String message, Throwable cause) {
        super(message, cause);
    }
}
