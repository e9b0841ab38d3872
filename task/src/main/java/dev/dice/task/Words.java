package dev.dice.task;

import java.util.List;
import java.util.SplittableRandom;

/**
 * Common short English words (3 to 5 lower-case letters) for the word families. Phrases are two words, so the
 * space (363² ≈ 130k phrases) is large enough to give every split its own disjoint, duplicate-free prompts.
 */
final class Words {

    static final List<String> ALL = List.of("""
            act add age ago air all and ant any arm art ask bad bag bed bee big bit box boy bus but buy \
            can cap car cat cow cry cup cut day dig dog dot dry ear eat egg end eye fan far fat few fig \
            fit fix fly fox fun gap gas get got gum gun hat hen hot how ice ink jam jar job joy key kid \
            leg let lid lip log low map mix mud net new nod not now nut oak odd oil old one owl own pan \
            pen pet pie pig pin pot put ram ran rat red rip rod row rub run sad saw say sea see set sit \
            six sky son sun tap tea ten tie tin toe top toy try two use van war wax way web wet who why \
            win yes yet zip \
            able acid back bake ball band bank barn bear bell bird blue boat body bone book boot bowl \
            cake calm card care cart cave city clay coat cold cook cool corn crab dark dawn deer desk \
            dish door down draw drum duck dust easy edge fair farm fast fish flag food foot fork frog \
            full game gate gift girl goat gold good gray grow hair half hand hard harm head heat help \
            hill home hope horn idea iron jump kind king kite lake lamp land late leaf left lion list \
            lock long love mail main milk mind moon nest nice nose open page park pink plan play pond \
            pool rain ring road rock roof room rope rose safe salt sand seed ship shoe shop sing snow \
            soft song soup star stop tail tall tent time tree wall warm wave wind wing wise wolf wood \
            word work yard year \
            apple bread brick brush chair chalk cloud clock dance dream drink earth field flame fruit \
            glass grape grass green happy heart horse house juice knife laugh lemon light lucky magic \
            mango money mouse music night ocean paint paper party peach piano plant plate quiet radio \
            river robot round salad sheep shirt skirt sleep smile snake sound spoon storm sugar sunny \
            table tiger toast tooth train truck water whale wheel white world young zebra""".split("\\s+"));

    private Words() {
    }

    static String word(SplittableRandom rng) {
        return ALL.get(rng.nextInt(ALL.size()));
    }

    /** Two words separated by one space, e.g. {@code red cat}. */
    static String phrase(SplittableRandom rng) {
        return word(rng) + " " + word(rng);
    }
}
