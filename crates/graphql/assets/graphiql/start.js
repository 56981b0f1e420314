// Starts GraphiQL against this server's /graphql. The token goes in the headers pane as
// {"Authorization": "Bearer <token>"}; a ?query= parameter pre-fills the editor.
(function () {
  var params = new URLSearchParams(window.location.search);
  var fetcher = GraphiQL.createFetcher({ url: window.location.origin + '/graphql' });
  var props = {
    fetcher: fetcher,
    defaultEditorToolsVisibility: 'headers',
    defaultHeaders: '{"Authorization": "Bearer <token>"}',
  };
  if (params.get('query')) props.query = params.get('query');
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(React.createElement(GraphiQL, props));
})();
