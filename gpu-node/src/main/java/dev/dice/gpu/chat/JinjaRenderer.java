package dev.dice.gpu.chat;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.TruthyTypeConverter;
import com.hubspot.jinjava.el.TypeConvertingMapELResolver;
import com.hubspot.jinjava.el.ext.JinjavaBeanELResolver;
import com.hubspot.jinjava.el.ext.JinjavaListELResolver;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.filter.Filter;
import java.time.Clock;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jinjava.de.odysseus.el.ExpressionFactoryImpl;
import jinjava.de.odysseus.el.tree.TreeBuilder;
import jinjava.javax.el.ArrayELResolver;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ELResolver;
import jinjava.javax.el.ExpressionFactory;

/**
 * Jinjava set up to render Hugging Face chat templates as Python's Jinja does under transformers'
 * apply_chat_template: trim_blocks and lstrip_blocks on, the '-' whitespace control of expressions honoured like
 * that of tags, filters binding tighter than arithmetic, one trailing newline of the template dropped, keyword
 * arguments whose value is a whole expression ({@link PythonParser}), Python's str methods
 * ({@link PythonStringMethods}), Python's strip for the trim filter, transformers' tojson ({@link PythonJson}),
 * and the functions raise_exception and strftime_now ({@link TemplateFunctions}). Any template error fails the
 * rendering: Jinjava's default is to record it and render on.
 *
 * <p>One construct is rewritten in the template text before parsing, because Jinjava's grammar has no slice
 * step: a name or dotted name followed by {@code [::-1]} (as in Qwen3's {@code messages[::-1]}) becomes
 * {@code (name|reverse|list)}. No other slice with a step is accepted: it stays a syntax error.
 */
final class JinjaRenderer {

    /** A template that cannot be parsed or rendered, or that called raise_exception. */
    static final class Failure extends Exception {
        private static final long serialVersionUID = 1L;

        Failure(String message) {
            super(message, null, false, false);
        }
    }

    private static final Pattern REVERSED_SLICE =
            Pattern.compile("(?<![\\w.])([A-Za-z_]\\w*(?:\\.[A-Za-z_]\\w*)*)\\[::-1\\]");

    private final Jinjava jinjava;

    JinjaRenderer(Clock clock) {
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withEvaluateMapKeys(true)
                        .withUsePyishObjectMapper(true)
                        .withUseNaturalOperatorPrecedence(true)
                        .withParseWhitespaceControlStrictly(true)
                        .withAllowAdjacentTextNodes(true)
                        .withUseTrimmingForNotesAndExpressions(true)
                        .withKeepNullableLoopValues(true)
                        .build())
                .withElResolver(resolver())
                .withDateTimeProvider(clock::millis)
                .withTimeZone(clock.getZone())
                .build();
        jinjava = new PythonJinjava(config);
        TemplateFunctions.definitions().forEach(jinjava.getGlobalContext()::registerFunction);
        jinjava.getGlobalContext().registerFilter(new PythonTrim());
        jinjava.getGlobalContext().registerFilter(new PythonJson());
    }

    /** Renders {@code template} with {@code variables}; any template error fails the whole rendering. */
    String render(String template, Map<String, Object> variables) throws Failure {
        RenderResult result = jinjava.renderForResult(prepare(template), variables);
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new Failure(describe(error));
            }
        }
        return result.getOutput();
    }

    /**
     * Checks the template's block structure (unknown tags, blocks left open) without rendering it. Jinjava parses
     * expressions only when it evaluates them, so a malformed expression is found by the first render instead.
     */
    void parse(String template) throws Failure {
        JinjavaInterpreter interpreter = jinjava.newInterpreter();
        try (var current = JinjavaInterpreter.closeablePushCurrent(interpreter).get()) {
            current.value().parse(prepare(template));
        }
        for (TemplateError error : interpreter.getErrorsCopy()) {
            if (error.getSeverity() == TemplateError.ErrorType.FATAL
                    || error.getReason() == TemplateError.ErrorReason.SYNTAX_ERROR) {
                throw new Failure(describe(error));
            }
        }
    }

    static String prepare(String template) {
        String t = template.endsWith("\n") ? template.substring(0, template.length() - 1) : template;
        Matcher m = REVERSED_SLICE.matcher(t);
        return m.replaceAll("($1|reverse|list)");
    }

    private static String describe(TemplateError error) {
        String raised = raised(error);
        if (raised != null) {
            return "the template raised: " + oneLine(raised);
        }
        String message = error.getMessage() == null ? error.getReason().toString() : error.getMessage();
        return "line " + error.getLineno() + ": " + oneLine(message);
    }

    private static String oneLine(String message) {
        return message.replaceAll("\\s+", " ").strip();
    }

    private static String raised(TemplateError error) {
        for (Throwable t = error.getException(); t != null; t = t.getCause()) {
            if (t instanceof TemplateFunctions.Raised) {
                return t.getMessage();
            }
        }
        return null;
    }

    private static ELResolver resolver() {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonStringMethods());
        resolver.add(new ArrayELResolver(true));
        resolver.add(new JinjavaListELResolver(true));
        resolver.add(new TypeConvertingMapELResolver(true));
        resolver.add(new JinjavaBeanELResolver(true));
        return resolver;
    }

    /** Jinjava whose expression factory builds trees with {@link PythonParser}. */
    private static final class PythonJinjava extends Jinjava {
        private final ExpressionFactory expressionFactory;

        PythonJinjava(JinjavaConfig config) {
            super(config);
            Properties properties = new Properties();
            properties.setProperty(TreeBuilder.class.getName(), PythonParser.SyntaxBuilder.class.getName());
            expressionFactory = new ExpressionFactoryImpl(properties, new TruthyTypeConverter());
        }

        @Override
        public ExpressionFactory getExpressionFactory() {
            return expressionFactory;
        }
    }

    /** Jinja's trim filter is Python's str.strip(), whose whitespace is wider than Java's trim(). */
    private static final class PythonTrim implements Filter {
        @Override
        public String getName() {
            return "trim";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return var == null ? null : PythonStringMethods.strip(var.toString());
        }
    }
}
