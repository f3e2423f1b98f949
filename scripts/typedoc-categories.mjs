// TypeDoc plugin (loaded by typedoc.json): sorts the top-level exports of the API reference into
// categories by the source file that declares them, so that the index reads "Creating clients /
// Options and codecs / Typed delegates / Errors" rather than twenty error classes next to
// `cluster`. An export whose TSDoc already has a `@category` tag keeps it; an export from a file
// not listed here goes to typedoc.json's `defaultCategory`.
import { Comment, CommentTag, Converter, ReflectionKind } from 'typedoc';

/** Source file (under src/, without extension) → category. */
const CATEGORY_BY_FILE = {
  'index': 'Creating clients',
  'cluster': 'Creating clients',
  'api-client': 'Creating clients',
  'client/cluster-client': 'Creating clients',
  'shutdown': 'Creating clients',
  'options': 'Options and codecs',
  'protocol/codec': 'Options and codecs',
  'delegates': 'Typed delegates',
  'stats': 'Stats and events',
  'transport/connection': 'Stats and events',
  'errors': 'Errors',
};
/** The type aliases of src/cluster.ts type the delegated methods. */
const TYPE_ALIAS_CATEGORY_BY_FILE = { 'cluster': 'Typed delegates' };

/** @param {import('typedoc').Reflection} reflection */
function hasCategoryTag(reflection) {
  return [reflection.comment, ...(reflection.signatures ?? []).map(s => s.comment)]
    .some(comment => comment?.getTag('@category'));
}

/** @param {import('typedoc').Application} app */
export function load(app) {
  /** The reflections (or signatures) whose comment this plugin created, and the tags it added. */
  const created = new Set();
  const added = new Set();
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, context => {
    for (const reflection of context.project.children ?? []) {
      if (hasCategoryTag(reflection)) continue;
      const fileName = context.getSymbolFromReflection(reflection)?.declarations?.[0]?.getSourceFile().fileName;
      const file = fileName?.replaceAll('\\', '/').match(/\/src\/(.+)\.[cm]?ts$/)?.[1];
      if (file === undefined) continue;
      const category = (reflection.kindOf(ReflectionKind.TypeAlias) && TYPE_ALIAS_CATEGORY_BY_FILE[file])
        || CATEGORY_BY_FILE[file];
      if (!category) continue;
      // A function's TSDoc is on its signature; tag the signature, so that the reflection keeps
      // no comment of its own and the index still shows the signature's summary.
      const target = !reflection.comment && reflection.signatures?.length ? reflection.signatures[0] : reflection;
      const tag = new CommentTag('@category', [{ kind: 'text', text: category }]);
      if (!target.comment) {
        target.comment = new Comment();
        created.add(target);
      }
      target.comment.blockTags.push(tag);
      added.add(tag);
    }
  });
  // Once the categories are built (CategoryPlugin runs at priority -200), take the added tags out
  // again and drop the comments this plugin created, so that an export without TSDoc is still
  // reported by `validation.notDocumented` (npm run docs:undocumented).
  app.converter.on(Converter.EVENT_RESOLVE_END, () => {
    for (const target of created) {
      target.comment.blockTags = target.comment.blockTags.filter(tag => !added.has(tag));
      if (target.comment.isEmpty()) target.comment = undefined;
    }
    created.clear();
    added.clear();
  }, -300);
}
