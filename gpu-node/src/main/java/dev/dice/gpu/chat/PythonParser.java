package dev.dice.gpu.chat;

import com.hubspot.jinjava.el.ExtendedSyntaxBuilder;
import com.hubspot.jinjava.el.ext.AdditionOperator;
import com.hubspot.jinjava.el.ext.ExtendedParser;
import com.hubspot.jinjava.el.ext.NamedParameterOperator;
import jinjava.de.odysseus.el.tree.impl.Builder;
import jinjava.de.odysseus.el.tree.impl.Parser;
import jinjava.de.odysseus.el.tree.impl.Scanner.ScanException;
import jinjava.de.odysseus.el.tree.impl.Scanner.Token;
import jinjava.de.odysseus.el.tree.impl.ast.AstBinary;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;

/**
 * Jinjava's expression parser with Python's precedence for keyword arguments.
 *
 * <p>Jinjava parses {@code name=value} as an additive-level operator, so {@code namespace(i=messages|length - 1)}
 * becomes {@code (i=messages|length) - 1}. In Jinja (Python) a keyword argument's value is a whole expression;
 * here the value after {@code =} is parsed as one, which is what Hugging Face templates (Qwen3's) rely on.
 */
final class PythonParser extends ExtendedParser {

    PythonParser(Builder context, String input) {
        super(context, input);
    }

    @Override
    protected AstNode add(boolean required) throws ScanException, ParseException {
        AstNode v = mul(required);
        if (v == null) {
            return null;
        }
        while (true) {
            Token token = getToken();
            switch (token.getSymbol()) {
                case PLUS:
                    consumeToken();
                    v = createAstBinary(v, mul(true), AdditionOperator.OP);
                    break;
                case MINUS:
                    consumeToken();
                    v = createAstBinary(v, mul(true), AstBinary.SUB);
                    break;
                case EXTENSION:
                    ExtensionHandler handler = getExtensionHandler(token);
                    if (handler.getExtensionPoint() != ExtensionPoint.ADD) {
                        return v;
                    }
                    consumeToken();
                    AstNode right = token == NamedParameterOperator.TOKEN ? expr(true) : mul(true);
                    v = handler.createAstNode(v, right);
                    break;
                default:
                    return v;
            }
        }
    }

    /** The tree builder Jinjava's expression factory instantiates by class name. */
    public static final class SyntaxBuilder extends ExtendedSyntaxBuilder {
        private static final long serialVersionUID = 1L;

        public SyntaxBuilder(Feature... features) {
            super(features);
        }

        @Override
        protected Parser createParser(String expression) {
            return new PythonParser(this, expression);
        }
    }
}
