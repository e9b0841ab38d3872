package dev.dice.gpu.chat;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELException;
import jinjava.javax.el.ELResolver;

/**
 * Python's str methods on Java strings, as Hugging Face chat templates call them ({@code content.strip()},
 * {@code content.split('</think>')[-1]}, {@code role.startswith('tool')}...). Jinjava would otherwise call
 * java.lang.String's own methods, whose names and semantics differ (split takes a regex, strip no argument).
 * Only invocations on a String base are resolved here; everything else falls through to Jinjava's resolvers.
 */
final class PythonStringMethods extends ELResolver {

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (!(base instanceof String s) || method == null) {
            return null;
        }
        Object[] args = params == null ? new Object[0] : params;
        Object result = call(s, method.toString(), args);
        if (result != NOT_A_STRING_METHOD) {
            context.setPropertyResolved(true);
            return result;
        }
        return null;
    }

    private static final Object NOT_A_STRING_METHOD = new Object();

    private static Object call(String s, String name, Object[] args) {
        switch (name) {
            case "strip":
                return rstrip(lstrip(s, chars(args)), chars(args));
            case "lstrip":
                return lstrip(s, chars(args));
            case "rstrip":
                return rstrip(s, chars(args));
            case "startswith":
                return prefixes(args).stream().anyMatch(s::startsWith);
            case "endswith":
                return prefixes(args).stream().anyMatch(s::endsWith);
            case "split":
                return args.length == 0 || args[0] == null ? splitWhitespace(s) : split(s, arg(args, 0));
            case "upper":
                return s.toUpperCase(Locale.ROOT);
            case "lower":
                return s.toLowerCase(Locale.ROOT);
            case "replace":
                return s.replace(arg(args, 0), arg(args, 1));
            case "title":
                return title(s);
            case "capitalize":
                return s.isEmpty() ? s
                        : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
            default:
                return NOT_A_STRING_METHOD;
        }
    }

    // Errors are ELExceptions: Jinjava records those as template errors, but maps an IllegalArgumentException
    // from a method call to a silent null.
    private static String arg(Object[] args, int i) {
        if (i >= args.length || args[i] == null) {
            throw new ELException("missing string argument " + (i + 1));
        }
        return args[i].toString();
    }

    /** startswith/endswith take a string or a tuple of strings. */
    private static List<String> prefixes(Object[] args) {
        if (args.length > 0 && args[0] instanceof Collection<?> options) {
            List<String> prefixes = new ArrayList<>();
            options.forEach(o -> prefixes.add(String.valueOf(o)));
            return prefixes;
        }
        return List.of(arg(args, 0));
    }

    /** The characters to strip: Python strips whitespace when none (or None) is given. */
    private static String chars(Object[] args) {
        return args.length == 0 || args[0] == null ? null : args[0].toString();
    }

    private static boolean stripped(int codePoint, String chars) {
        return chars == null ? isPythonSpace(codePoint) : chars.indexOf(codePoint) >= 0;
    }

    /** Python's str.isspace() for one code point: Java's whitespace, the space separators and NEL. */
    static boolean isPythonSpace(int codePoint) {
        return Character.isWhitespace(codePoint) || Character.isSpaceChar(codePoint) || codePoint == 0x85;
    }

    /** Python's str.strip() with no argument, which Jinja's trim filter is. */
    static String strip(String s) {
        return rstrip(lstrip(s, null), null);
    }

    private static String lstrip(String s, String chars) {
        int i = 0;
        while (i < s.length() && stripped(s.codePointAt(i), chars)) {
            i += Character.charCount(s.codePointAt(i));
        }
        return s.substring(i);
    }

    private static String rstrip(String s, String chars) {
        int end = s.length();
        while (end > 0 && stripped(s.codePointBefore(end), chars)) {
            end -= Character.charCount(s.codePointBefore(end));
        }
        return s.substring(0, end);
    }

    private static List<String> split(String s, String separator) {
        if (separator.isEmpty()) {
            throw new ELException("split: empty separator");
        }
        List<String> parts = new ArrayList<>();
        int from = 0;
        for (int at = s.indexOf(separator); at >= 0; at = s.indexOf(separator, from)) {
            parts.add(s.substring(from, at));
            from = at + separator.length();
        }
        parts.add(s.substring(from));
        return parts;
    }

    private static List<String> splitWhitespace(String s) {
        List<String> parts = new ArrayList<>();
        int i = 0;
        while (i < s.length()) {
            while (i < s.length() && isPythonSpace(s.codePointAt(i))) {
                i += Character.charCount(s.codePointAt(i));
            }
            int start = i;
            while (i < s.length() && !isPythonSpace(s.codePointAt(i))) {
                i += Character.charCount(s.codePointAt(i));
            }
            if (i > start) {
                parts.add(s.substring(start, i));
            }
        }
        return parts;
    }

    private static String title(String s) {
        StringBuilder out = new StringBuilder(s.length());
        boolean previousCased = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            out.append(previousCased ? Character.toLowerCase(c) : Character.toUpperCase(c));
            previousCased = Character.isLetter(c);
        }
        return out.toString();
    }

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
        // Strings are immutable; nothing to set.
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return true;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }
}
