package dev.dice.gpu.chat;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.lang.reflect.Method;
import java.time.Instant;
import java.util.List;

/**
 * The global functions transformers gives a chat template besides its variables: {@code raise_exception(msg)},
 * with which a template refuses a conversation, and {@code strftime_now(format)}, which formats the current
 * time of the renderer's clock (Jinjava's DateTimeProvider, injectable for tests).
 */
final class TemplateFunctions {

    private TemplateFunctions() {}

    /** What raise_exception throws; the renderer turns it into one line naming the template's message. */
    static final class Raised extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Raised(String message) {
            super(message, null, false, false);
        }
    }

    public static Object raiseException(Object message) {
        throw new Raised(String.valueOf(message));
    }

    public static String strftimeNow(String format) {
        JinjavaInterpreter interpreter = JinjavaInterpreter.getCurrent();
        long millis = interpreter.getConfig().getDateTimeProvider().getCurrentTimeMillis();
        return Strftime.format(Instant.ofEpochMilli(millis).atZone(interpreter.getConfig().getTimeZone()), format);
    }

    static List<ELFunctionDefinition> definitions() {
        return List.of(define("raise_exception", "raiseException", Object.class),
                define("strftime_now", "strftimeNow", String.class));
    }

    private static ELFunctionDefinition define(String name, String javaName, Class<?> parameter) {
        try {
            Method method = TemplateFunctions.class.getMethod(javaName, parameter);
            method.setAccessible(true); // the class is package-private; Jinjava calls the method reflectively
            return new ELFunctionDefinition("", name, method);
        } catch (NoSuchMethodException e) {
            throw new IllegalStateException(e);
        }
    }
}
